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

/// Section 3: flags BuildKit rejects are errors at the flag, with a caret and a "did you mean"
/// (frontend/dockerfile/instructions/parse.go, bflag.go and commands_runmount.go).
#[test]
fn instruction_flags_buildkit_rejects_are_errors_with_did_you_mean() {
    type Case<'a> = (&'a str, (usize, usize), &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (
            "FROM alpine\nCOPY --form=x /a /b\n",
            (2, 6),
            "unknown flag: form",
            Some("did you mean `--from`?"),
        ),
        (
            "FROM alpine\nRUN --mount=type=cahce,target=/c true\n",
            (2, 18),
            "unsupported mount type \"cahce\"",
            Some("did you mean `type=cache`?"),
        ),
        (
            "FROM alpine\nRUN --mount=type=cache,traget=/c true\n",
            (2, 24),
            "unexpected key 'traget' in 'traget=/c'",
            Some("did you mean `target`?"),
        ),
        (
            "FROM alpine\nRUN --mount=type=cache,target=/c,sharing=lock true\n",
            (2, 42),
            "unsupported sharing value \"lock\"",
            Some("did you mean `sharing=locked`?"),
        ),
        (
            "FROM alpine\nRUN --mount=type=bind,size=1m,target=/c true\n",
            (2, 23),
            "unexpected key 'size' for mount type 'bind'",
            None,
        ),
        (
            "FROM alpine\nRUN --mount=type=cache,target=/c,oops true\n",
            (2, 34),
            "invalid field 'oops' must be a key=value pair",
            None,
        ),
        (
            "FROM alpine\nRUN --mount true\n",
            (2, 5),
            "missing a value on flag: mount",
            Some("write `--mount=<value>`"),
        ),
        (
            "FROM alpine\nRUN --netwrok=none true\n",
            (2, 5),
            "unknown flag: netwrok",
            Some("did you mean `--network`?"),
        ),
        (
            "FROM alpine\nCOPY --link=maybe a b\n",
            (2, 13),
            "expecting boolean value for flag link, not: maybe",
            None,
        ),
        (
            "FROM alpine\nCOPY --from=a --from=b a b\n",
            (2, 15),
            "duplicate flag specified: from",
            None,
        ),
        (
            "FROM alpine\nENV --x=1 A=b\n",
            (2, 5),
            "unknown flag: x",
            Some("ENV takes no flags"),
        ),
        (
            "FROM --platfrom=linux/amd64 alpine\n",
            (1, 6),
            "unknown flag: platfrom",
            Some("did you mean `--platform`?"),
        ),
        (
            "FROM alpine\nHEALTHCHECK --intervall=5s CMD true\n",
            (2, 13),
            "unknown flag: intervall",
            Some("did you mean `--interval`?"),
        ),
    ];
    for (src, (line, col), msg, help) in cases {
        let d = error(src);
        assert_eq!((d.span.line, d.span.col), (*line, *col), "{src:?}: {d}");
        assert_eq!(d.message, *msg, "{src:?}");
        assert_eq!(d.help.as_deref(), *help, "{src:?}");
    }
    // The caret sits under the bad mount type.
    let src = "FROM alpine\nRUN --mount=type=cahce,target=/c true\n";
    let r = error(src).render("error", "Dockerfile", src);
    assert!(
        r.contains("2 | RUN --mount=type=cahce,target=/c true\n  |                  ^\n"),
        "{r}"
    );
    // What BuildKit accepts stays accepted: every documented flag, `HEALTHCHECK NONE` and ARG
    // (whose flags BuildKit never parses), expansions in mount values, `ro`/`required` fields.
    graph(
        "FROM alpine AS a\nFROM --platform=$BUILDPLATFORM alpine AS b\n\
         COPY --chown=1:1 --chmod=644 --link --parents --exclude=*.md --exclude=*.txt --from=a x y\n\
         ADD --checksum=sha256:0 --keep-git-dir=true --unpack=false --link=false https://x/y.tgz /y\n\
         RUN --network=none --security=sandbox --mount=type=cache,target=/c,sharing=locked,id=x,mode=0755,uid=1 \\\n\
             --mount=type=secret,id=npmrc,required,env=NPM --mount=type=ssh,required=true \\\n\
             --mount=type=tmpfs,target=/t,size=64m --mount=type=$T,target=/v --mount=type=bind,ro,target=/b true\n\
         HEALTHCHECK --interval=5s --timeout=1s --start-period=1s --start-interval=1s --retries=3 CMD true\n\
         HEALTHCHECK NONE\n",
    );
}

#[test]
fn secret_mount_ids_are_recorded_like_buildkit_names_them() {
    let g = graph(
        "FROM alpine\nRUN --mount=type=secret,id=npmrc true\n\
         RUN --mount=type=secret,target=/run/secrets/aws true\n\
         RUN --mount=type=secret,source=gh,id=ignored true\n\
         RUN --mount=type=cache,id=notasecret,target=/c true\n",
    );
    let ids: Vec<(&str, usize)> = g
        .secret_mounts
        .iter()
        .map(|m| (m.id.as_str(), m.span.line))
        .collect();
    assert_eq!(ids, [("npmrc", 2), ("aws", 3), ("gh", 4)]);
    assert!(g.declared_args.is_empty());
    let g = graph("ARG A=1 B\nFROM alpine\nARG C\n");
    assert_eq!(
        g.declared_args
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
}

/// Section 7: a Windows container stage (its base image or `--platform`) is found at its FROM,
/// with the refusal the planner raises where a job builds it (the jobs run on Linux; see
/// `plan_cmd::windows_stage_is_refused_only_when_a_job_builds_it`).
#[test]
fn windows_container_bases_are_found_at_the_from_line() {
    for (src, col) in [
        ("FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\n", 6),
        (
            "FROM mcr.microsoft.com/windows/servercore:ltsc2019 AS base\n",
            6,
        ),
        (
            "ARG V=8.0-nanoserver-ltsc2022\nFROM mcr.microsoft.com/dotnet/sdk:${V}\n",
            6,
        ),
        ("FROM   mcr.microsoft.com/windows:20H2\n", 8),
        ("FROM --platform=windows/amd64 alpine\n", 17),
    ] {
        let g = graph(src);
        let w = g.stages[0]
            .windows
            .as_ref()
            .unwrap_or_else(|| panic!("{src:?}: not found"));
        let d = w.refusal();
        let line = src.lines().count();
        assert_eq!((d.span.line, d.span.col), (line, col), "{src:?}: {d}");
        assert!(
            d.message
                .contains("Windows containers cannot be built by the generated jobs"),
            "{d}"
        );
        assert!(d.help.as_deref().unwrap_or("").contains("Linux"), "{d}");
    }
    // A stage that happens to be called like that is not an image.
    let g = graph("FROM alpine AS servercore\nFROM servercore\n");
    assert!(g.stages.iter().all(|s| s.windows.is_none()));
    assert!(graph("FROM mcr.microsoft.com/dotnet/sdk:8.0\n").stages[0]
        .windows
        .is_none());
}
