#!/usr/bin/env python3
"""Synthetic multi-stage Dockerfile generator for the benchmark.

Every stage looks like real-world ones: a meta-ARG'd base, continuation lines, a cache mount,
a bind mount and COPY --from on earlier stages, a heredoc, ENV/LABEL and exec-form CMD.
Usage: gen.py STAGES [--min-bytes N] [--no-heredoc] > Dockerfile
(--no-heredoc: hadolint stops at the first heredoc, so the file both tools read has none)   (deterministic for a given input)
"""
import sys


def stage(i: int, heredoc: bool = True) -> str:
    name = f"stage{i:05d}"
    if i == 0:
        base = "${BASE_IMAGE}:${BASE_TAG}"
    elif i % 7 == 0:
        base = f"debian:${{DEBIAN_RELEASE:-bookworm}}-slim"
    else:
        base = f"stage{(i - 1):05d}"
    lines = [f"# Stage {i}: builds component {i} of the synthetic project", f"FROM --platform=$BUILDPLATFORM {base} AS {name}"]
    lines += [
        f"ARG COMPONENT={name}",
        f'ENV COMPONENT_HOME=/opt/{name} PATH="/opt/{name}/bin:$PATH"',
        f'LABEL org.example.component="{name}" org.example.index="{i}"',
        f"WORKDIR /src/{name}",
        f"COPY src/{name}/ ./",
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\",
        "    apt-get update \\",
        "    && apt-get install -y --no-install-recommends build-essential ca-certificates curl git \\",
        "    && rm -rf /var/lib/apt/lists/*",
    ]
    if i >= 2:
        lines.append(f"COPY --from=stage{(i - 2):05d} --chown=1000:1000 /opt/stage{(i - 2):05d}/bin /opt/deps/bin")
    if i >= 3:
        lines.append(
            f"RUN --mount=type=bind,from=stage{(i - 3):05d},source=/opt,target=/mnt/deps \\\n"
            f"    --mount=type=cache,target=/root/.cache,id={name} \\\n"
            f"    make -C /src/{name} DEPS=/mnt/deps install PREFIX=/opt/{name}"
        )
    if heredoc:
        lines += ["RUN <<EOF", "set -eu", f"echo building {name}", f"test -d /opt/{name} || mkdir -p /opt/{name}/bin", "EOF"]
    else:
        lines += [f"RUN set -eu; echo building {name}; test -d /opt/{name} || mkdir -p /opt/{name}/bin"]
    lines += [
        f'HEALTHCHECK --interval=30s --timeout=3s CMD ["/opt/{name}/bin/health", "--quiet"]',
        f'CMD ["/opt/{name}/bin/run", "--config", "/etc/{name}.toml"]',
        "",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    stages = int(sys.argv[1])
    min_bytes = 0
    if "--min-bytes" in sys.argv:
        min_bytes = int(sys.argv[sys.argv.index("--min-bytes") + 1])
    out = ["# syntax=docker/dockerfile:1\n", "ARG BASE_IMAGE=debian BASE_TAG=bookworm\n", "ARG DEBIAN_RELEASE\n\n"]
    size = sum(len(s) for s in out)
    i = 0
    while i < stages or size < min_bytes:
        s = stage(i, heredoc="--no-heredoc" not in sys.argv)
        out.append(s)
        size += len(s)
        i += 1
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
