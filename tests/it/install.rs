//! Installing gen-pipeline (issue 12): the crate package, the honest `rust-version`, the Python
//! wheel (maturin, `bindings = "bin"`) and the pre-commit hooks, and the release workflow.

use crate::tools::*;

/// A `[package]` field of Cargo.toml (`version`, `rust-version`, …) as a string.
pub fn manifest_field(key: &str) -> String {
    let path = repo_root().join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .take_while(|l| !l.starts_with('[') || l.trim() == "[package]")
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("no {key} in [package] of {}", path.display()))
}
