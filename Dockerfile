# syntax=docker/dockerfile:1
# gen-pipeline's own image. Each stage is its own CI job (see gen-pipeline.yml and the generated
# .github/workflows/images.yml): dependencies are compiled once in `deps` from the lock file only,
# so a source change rebuilds `build` and `test` but not the crates.
ARG RUST_VERSION=1.88
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
RUN cargo install cargo-chef --locked --version 0.1.68
WORKDIR /src

FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS deps
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json

FROM deps AS build
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
RUN cargo build --release --locked --bin gen-pipeline

FROM build AS test
RUN cargo test --release --locked --lib

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gen-pipeline /usr/local/bin/gen-pipeline
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/gen-pipeline"]
