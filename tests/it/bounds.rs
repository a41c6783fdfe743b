//! Pathological inputs finish in bounded time and memory (issue 9, section 4): the ARG
//! doubling bomb, `${A#*b}` on long values, 100,000 stages through parse → graph → plan,
//! deeply nested YAML in the config, and values that would break the CI files. These tests
//! assert the result or the error; wall times are recorded in bench/RESULTS.md ("Bounds").

use std::collections::BTreeMap;

use gen_pipeline::diag::Span;
use gen_pipeline::dockerfile::parse;
use gen_pipeline::graph::{build_with_source, GraphOptions, StageGraph};
use gen_pipeline::plan::{self, PlanError, PlanOptions};
use gen_pipeline::refs::{CachePolicy, RefInfo, RefKind};

fn graph(src: &str) -> Result<StageGraph, gen_pipeline::diag::Diagnostic> {
    let df = parse(src).unwrap_or_else(|e| panic!("parse: {e}"));
    build_with_source(&df, src, &GraphOptions::default()).map_err(|e| e.diag)
}

fn options() -> PlanOptions {
    PlanOptions {
        image: "registry.example.com/team/proj".into(),
        dockerfile: "Dockerfile".into(),
        context: ".".into(),
        targets: Vec::new(),
        images: Default::default(),
        checks: None,
        split: plan::Split::Shared,
        builder: plan::Builder::Buildx,
        build_args: BTreeMap::new(),
        secrets: Vec::new(),
        platforms: Vec::new(),
        extra_tags: Vec::new(),
        cache_policy: CachePolicy::default(),
        buildkit_syntax: None,
        provenance: false,
        skip: true,
        buildkit: Default::default(),
        runners: Default::default(),
        git_ref: RefInfo::new(RefKind::Branch, "main", &"a".repeat(40), "main", None),
        gc: None,
    }
}

/// `ARG A{i+1}=${A{i}}${A{i}}`: each line doubles the value.
fn doubling_bomb(doublings: usize) -> String {
    let mut src = String::from("ARG A0=0123456789abcdef\n");
    for i in 0..doublings {
        src.push_str(&format!("ARG A{}=${{A{i}}}${{A{i}}}\n", i + 1));
    }
    src.push_str(&format!("FROM alpine:${{A{doublings}}}\n"));
    src
}

#[test]
fn arg_doubling_bomb_stops_at_the_word_limit_with_its_line() {
    // 16 bytes doubled twelve times is 65,536 bytes, one over the limit: `A12` (line 13).
    for doublings in [24, 28, 64] {
        let src = doubling_bomb(doublings);
        assert!(src.len() < 2048, "a small file: {} bytes", src.len());
        let d = graph(&src).expect_err("the bomb must be refused");
        assert_eq!(d.span, Span { line: 13, col: 9 }, "{d}");
        assert!(
            d.message
                .contains("ARG A12: the expanded value is longer than 65535 bytes"),
            "{d}"
        );
        let rendered = d.render("error", "Dockerfile", &src);
        assert!(
            rendered.starts_with("Dockerfile:13:9: error: ARG A12:"),
            "{rendered}"
        );
        assert!(
            rendered.contains("13 | ARG A12=${A11}${A11}\n   |         ^\n"),
            "{rendered}"
        );
    }
    // Eleven doublings (32 KiB) stay within the limit and expand exactly.
    let g = graph(&doubling_bomb(11)).unwrap();
    assert_eq!(g.stages[0].base.len(), "alpine:".len() + 16 * 2048);
}

#[test]
fn total_expansion_work_is_bounded_by_the_file_size() {
    // Every ARG copies a 60 KiB value: each word is within the limit, but the file would make
    // gen-pipeline copy 60 KiB per 17-byte line. The work budget (16 Mi + 16 per byte) stops it.
    let mut src = format!("ARG BIG={}\n", "x".repeat(60_000));
    for i in 0..2_000 {
        src.push_str(&format!("ARG C{i}=${{BIG}}\n"));
    }
    src.push_str("FROM alpine\n");
    let d = graph(&src).expect_err("over budget");
    assert!(d.message.contains("exceeds its work budget"), "{d}");
    assert!(d.span.line > 2 && d.span.line < 2_002, "{d}");
}

#[test]
fn trim_of_a_long_value_is_linear_and_exact() {
    // `${A#*b}` on a 60 KB value was quadratic (3.7 s); the answer must not change.
    let val = format!("{}b{}", "a".repeat(30_000), "c".repeat(30_000));
    let src = format!(
        "ARG A={val}\nARG S=${{A#*b}}\nARG L=${{A##*a}}\nARG P=${{A%b*}}\n\
         FROM alpine:${{S}}\nFROM alpine:${{L}}\nFROM alpine:${{P}}x\n"
    );
    let g = graph(&src).unwrap();
    assert_eq!(g.stages[0].base, format!("alpine:{}", "c".repeat(30_000)));
    assert_eq!(g.stages[1].base, format!("alpine:b{}", "c".repeat(30_000)));
    assert_eq!(g.stages[2].base, format!("alpine:{}x", "a".repeat(30_000)));
}

/// `${a:-${a:-…}}` nested 5,000 levels deep in one ARG default (25 KB, within the line limit):
/// an error at its line, exit 2. Before the graph's expansion shared the parser's lexer (and its
/// nesting bound) this overflowed the stack and aborted, so it runs as a process of its own.
#[test]
fn deeply_nested_substitution_is_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5_000;
    let src = format!(
        "ARG X={}v{}\nFROM alpine:$X\n",
        "${a:-".repeat(n),
        "}".repeat(n)
    );
    std::fs::write(dir.path().join("Dockerfile"), &src).unwrap();
    let out = crate::tools::gen_pipeline()
        .current_dir(dir.path())
        .args(["plan", "--no-config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Dockerfile:1:7: error: substitutions nested too deeply"),
        "{stderr}"
    );
}

#[test]
fn hundred_thousand_stages_parse_graph_and_plan() {
    // 100,000 stages, each on an image of its own (so each FROM asks for a "did you mean"),
    // plus 100 COPY --from: the suggestion and the plan's last-definition check (every stage
    // against all later ones) were each quadratic (10k stages: 23 s; 100k: 15.4 s in plan).
    const N: usize = 100_000;
    let mut src = String::with_capacity(N * 40);
    for i in 0..N {
        src.push_str(&format!("FROM img{i} AS s{i}\n"));
        if i % 1000 == 1 {
            src.push_str(&format!("COPY --from=s{} /a /a\n", i - 1));
        }
    }
    let g = graph(&src).unwrap();
    assert_eq!(g.stages.len(), N);
    assert_eq!(g.stages[1001].depends_on, vec![1000]);
    let p = plan::plan(&g, &options()).unwrap();
    // Every stage but the 100 COPY sources (built inline by their one consumer) is a leaf target.
    assert_eq!(p.jobs.len(), N - 100);
    let s1001 = p.jobs.iter().find(|j| j.id == "s1001").unwrap();
    assert_eq!(s1001.inline_stages, ["s1000"]);
    assert!(s1001.needs.is_empty());
}

#[test]
fn deep_yaml_nesting_in_the_config_is_refused_before_parsing() {
    for src in [
        format!("targets: {}", "[".repeat(100_000)),
        format!("targets: {}", "{a: ".repeat(100_000)),
        (0..100_000usize)
            .map(|i| format!("{}- x\n", "  ".repeat(i.min(200))))
            .collect::<String>(),
    ] {
        let e = gen_pipeline::config::parse(&src).expect_err("too deep");
        assert!(
            e.diag.message.contains("nests more than 64 levels"),
            "{}",
            e.diag.message
        );
        let rendered = e.diag.render("error", "gen-pipeline.yml", &src);
        assert!(
            rendered.len() < 1_000,
            "the echoed line is cut: {} bytes",
            rendered.len()
        );
    }
}

#[test]
fn build_arg_with_a_line_separator_is_a_validation_error() {
    let g = graph("FROM alpine AS app\n").unwrap();
    for (value, code) in [
        ("a\u{2028}b", "U+2028"),
        ("a\u{0085}b", "U+0085"),
        ("a\u{2029}b", "U+2029"),
        ("a\u{0007}b", "U+0007"),
    ] {
        let mut o = options();
        o.build_args.insert("V".into(), value.into());
        match plan::plan(&g, &o) {
            Err(e @ PlanError::BadBuildArg { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("build argument `V`") && msg.contains(code),
                    "{msg}"
                );
            }
            other => panic!("expected BadBuildArg for {value:?}, got {other:?}"),
        }
    }
    let mut o = options();
    o.build_args.insert("V".into(), "tab\tis fine".into());
    plan::plan(&g, &o).unwrap();
}
