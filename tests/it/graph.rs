//! The stage graph through the real parser: continuations, heredocs, ONBUILD, JSON flags.

use gen_pipeline::diag::Span;
use gen_pipeline::dockerfile::parse;
use gen_pipeline::graph::{build_with_source, EdgeKind, EdgeTarget, GraphOptions, StageGraph};

fn graph(src: &str) -> StageGraph {
    let df = parse(src).unwrap_or_else(|e| panic!("parse: {e}"));
    build_with_source(&df, src, &GraphOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.diag.render("error", "Dockerfile", src)))
}

fn error(src: &str) -> gen_pipeline::diag::Diagnostic {
    let df = parse(src).unwrap_or_else(|e| panic!("parse: {e}"));
    build_with_source(&df, src, &GraphOptions::default())
        .expect_err("expected a graph error")
        .diag
}

#[test]
fn continuation_lines_and_heredocs() {
    let src = "ARG BASE=alpine:3.20\n\
               FROM ${BASE} AS base\n\
               RUN <<EOF\n\
               FROM not-a-stage\n\
               COPY --from=nope /a /b\n\
               EOF\n\
               FROM base AS build\n\
               RUN --mount=type=cache,target=/c \\\n    \
                   --mount=type=bind,from=base,source=/,target=/b \\\n    \
                   make\n\
               FROM scratch\n\
               COPY --from=build \\\n     /out /out\n";
    let g = graph(src);
    assert_eq!(g.stages.len(), 3);
    assert_eq!(g.stages[0].base, "alpine:3.20");
    assert_eq!(g.stages[1].line, 7);
    assert_eq!(g.stages[1].depends_on, vec![0]);
    let mount = g.stages[1]
        .edges
        .iter()
        .find(|e| e.kind == EdgeKind::Mount)
        .unwrap();
    assert_eq!(mount.target, EdgeTarget::Stage(0));
    assert_eq!(mount.span, Span { line: 9, col: 28 });
    assert_eq!(g.stages[2].depends_on, vec![1]);
    assert_eq!(g.images, vec!["alpine:3.20"]);
}

#[test]
fn from_error_on_a_continued_line_points_at_that_line() {
    let src = "FROM alpine AS a\nFROM alpine\nRUN echo \\\n  && true\nCOPY --chown=1:1 \\\n  --from=${X} /a /b\n";
    let d = error(src);
    assert_eq!(d.span, Span { line: 6, col: 10 });
}

#[test]
fn onbuild_and_lowercase_instructions() {
    let g =
        graph("from alpine as a\nfrom alpine\nonbuild copy --from=a /x /y\ncopy --from=A /x /y\n");
    assert_eq!(g.stages[1].depends_on, vec![0]);
    assert_eq!(
        g.stages[1].edges.len(),
        2,
        "FROM image edge + one COPY edge; ONBUILD adds none"
    );
}

#[test]
fn unknown_instruction_through_the_parser() {
    let d = error("FROM alpine\nCOPPY a b\n");
    assert_eq!(d.span, Span { line: 2, col: 1 });
    assert_eq!(d.message, "unknown instruction: COPPY");
    assert_eq!(d.help.as_deref(), Some("did you mean `COPY`?"));
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    const LINES: &[&str] = &[
        "FROM alpine AS a",
        "FROM a AS b",
        "from ${X:-a}",
        "COPY --from=a /x /y",
        "COPY --from=1 /x /y",
        "COPY --from=$X /x /y",
        "RUN --mount=type=bind,from=b,target=/x true",
        "RUN <<EOF",
        "EOF",
        "ARG X=a",
        "ARG",
        "ONBUILD COPY --from=b . .",
        "FROM",
        "FROM --platform=$BUILDPLATFORM a AS c",
        "\\",
        "# escape=`",
        "COPY [\"--from=a\"]",
        "ADD --from=a x y",
        "\"",
        "${",
        "FROM a AS",
        "bogus x",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn mutated_dockerfiles_never_panic(picks in prop::collection::vec((0..LINES.len(), 0u8..4, any::<u8>()), 0..14)) {
            let mut src = String::new();
            for (i, mutation, byte) in picks {
                let mut line = LINES[i].to_string();
                match mutation {
                    0 => {}
                    1 => { let at = (byte as usize) % (line.len() + 1); line.truncate(at); }
                    2 => line.push(char::from(byte)),
                    _ => line.insert(0, ' '),
                }
                src.push_str(&line);
                src.push('\n');
            }
            if let Ok(df) = parse(&src) {
                let _ = build_with_source(&df, &src, &GraphOptions::default());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let src = String::from_utf8_lossy(&bytes);
            if let Ok(df) = parse(&src) {
                let _ = build_with_source(&df, &src, &GraphOptions::default());
            }
        }
    }
}
