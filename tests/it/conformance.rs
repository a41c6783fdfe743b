//! BuildKit parser conformance: every `testfiles/*/Dockerfile` must dump exactly to its
//! `result`, every `testfiles-negative/*/Dockerfile` must be rejected. The data is read at
//! run time from `../shared/conformance/buildkit-parser` (or `GEN_PIPELINE_CONFORMANCE_DIR`);
//! a missing folder is a failure, not a skip.

use std::path::{Path, PathBuf};

use gen_pipeline::dockerfile;

const POSITIVE_CASES: usize = 33;
const NEGATIVE_CASES: usize = 4;

fn conformance_dir() -> PathBuf {
    match std::env::var_os("GEN_PIPELINE_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/buildkit-parser"),
    }
}

/// Sorted case directories under `sub`, panicking (failing the test) when absent.
fn cases(sub: &str) -> Vec<PathBuf> {
    let dir = conformance_dir().join(sub);
    let rd = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "conformance data missing at {} ({e}); set GEN_PIPELINE_CONFORMANCE_DIR",
            dir.display()
        )
    });
    let mut out: Vec<PathBuf> = rd
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .header("expected (result)", "actual (dump)")
        .to_string()
}

#[test]
fn positive_cases_dump_exactly() {
    let cases = cases("testfiles");
    assert_eq!(
        cases.len(),
        POSITIVE_CASES,
        "expected {POSITIVE_CASES} positive cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let src = read(&case.join("Dockerfile"));
        let expected = read(&case.join("result"));
        match dockerfile::parse(&src) {
            Err(e) => failures.push(format!("== {name}: parse error: {e}")),
            Ok(df) => {
                let actual = df.dump() + "\n";
                if actual != expected {
                    failures.push(format!(
                        "== {name}: dump differs\n{}",
                        diff(&expected, &actual)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn negative_cases_are_rejected() {
    let cases = cases("testfiles-negative");
    assert_eq!(
        cases.len(),
        NEGATIVE_CASES,
        "expected {NEGATIVE_CASES} negative cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let src = read(&case.join("Dockerfile"));
        match dockerfile::parse(&src) {
            Ok(df) => failures.push(format!("== {name}: accepted, dump:\n{}", df.dump())),
            Err(e) => {
                // Every rejection must be located inside the file.
                let lines = src.lines().count().max(1);
                if e.diag.span.line == 0 || e.diag.span.line > lines || e.diag.span.col == 0 {
                    failures.push(format!("== {name}: error outside the file: {e}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} negative cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn negative_cases_fail_for_the_right_reason() {
    let dir = conformance_dir().join("testfiles-negative");
    let msg = |case: &str| {
        dockerfile::parse(&read(&dir.join(case).join("Dockerfile")))
            .unwrap_err()
            .diag
    };
    let d = msg("env_no_value");
    assert_eq!(
        (d.span.line, d.span.col, d.message.as_str()),
        (3, 1, "ENV must have two arguments")
    );
    let d = msg("shykes-nested-json");
    assert_eq!(d.span, gen_pipeline::diag::Span { line: 1, col: 1 });
    assert!(
        d.message
            .contains("arrays must be comprised of strings only"),
        "{}",
        d.message
    );
    assert!(msg("empty_dockerfile").message.contains("no instructions"));
    assert!(msg("only_comments").message.contains("no instructions"));
}

#[test]
fn reads_the_data_from_the_override_dir() {
    // The default location is relative to the manifest, never copied into the repo.
    assert!(!Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/testfiles")
        .exists());
    assert!(
        conformance_dir().join("README.md").is_file(),
        "README.md missing in {}",
        conformance_dir().display()
    );
}
