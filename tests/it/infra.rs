//! Tests of the test infrastructure itself: every checker helper passes a good sample and rejects a
//! bad one for the right reason (so a green generated-pipeline test means something).

use crate::tools::*;
use std::path::PathBuf;

fn fx(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures/checkers").join(rel)
}

#[track_caller]
fn expect_failure(r: Result<impl std::fmt::Debug, ToolFailure>, needle: &str) {
    match r {
        Ok(v) => panic!("expected the checker to fail with {needle:?}, but it passed: {v:?}"),
        Err(f) => assert!(f.output().contains(needle), "failure does not mention {needle:?}:\n{f}"),
    }
}

#[test]
fn split_yaml_documents_splits_streams_only() {
    assert_eq!(split_yaml_documents("a: 1\nb: [x]\n").len(), 1);
    let docs = split_yaml_documents("# lead\n---\na: 1\n---\nb: |\n  --- not a separator\n...\n");
    assert_eq!(docs, vec!["a: 1\n".to_string(), "b: |\n  --- not a separator\n".to_string()]);
}

#[test]
fn check_jsonschema_github_workflows() {
    check_jsonschema("vendor.github-workflows", fx("github/good.yml"), false);
    expect_failure(try_check_jsonschema("vendor.github-workflows", fx("github/bad-schema.yml"), false), "stepz");
}

#[test]
fn check_jsonschema_github_actions() {
    check_jsonschema("vendor.github-actions", fx("action-good/action.yml"), false);
    expect_failure(try_check_jsonschema("vendor.github-actions", fx("action-bad/action.yml"), false), "shelll");
}

#[test]
fn check_jsonschema_gitlab() {
    check_jsonschema("vendor.gitlab-ci", fx("gitlab/good.yml"), true);
    expect_failure(try_check_jsonschema("vendor.gitlab-ci", fx("gitlab/bad-schema.yml"), true), "expire_in");
}

#[test]
fn check_jsonschema_drone_multi_document() {
    // The whole stream does not parse for check-jsonschema; the helper validates each document.
    check_jsonschema("vendor.drone-ci", fx("drone/good.yml"), false);
    let r = try_check_jsonschema("vendor.drone-ci", fx("drone/bad-second-doc.yml"), false);
    expect_failure(r.clone(), "document 2 of 2");
    expect_failure(r, "Schema validation errors");
}

#[test]
fn check_jsonschema_woodpecker() {
    check_jsonschema("vendor.woodpecker-ci", fx("woodpecker/good.yml"), false);
    expect_failure(try_check_jsonschema("vendor.woodpecker-ci", fx("woodpecker/bad.yml"), false), "depends_on");
}

#[test]
fn actionlint_good_and_bad() {
    actionlint(&[fx("github/good.yml")]);
    expect_failure(try_actionlint(&[fx("github/missing-needs.yml")]), "job-needs");
    // shellcheck runs inside actionlint: an injected expression in run: is reported.
    expect_failure(try_actionlint(&[fx("github/injection.yml")]), "github.event.head_commit.message");
}

#[test]
fn zizmor_any_finding_fails() {
    zizmor_offline(&[fx("github/good.yml")]);
    zizmor_offline(&[fx("action-good/action.yml")]);
    expect_failure(try_zizmor_offline(&[fx("github/unpinned.yml")]), "unpinned-uses");
    expect_failure(try_zizmor_offline(&[fx("github/injection.yml")]), "template-injection");
}

#[test]
fn yamllint_uses_repo_config() {
    // The good samples use `on:` and flush sequences that yamllint's default config rejects.
    for f in ["github/good.yml", "gitlab/good.yml", "drone/good.yml", "woodpecker/good.yml"] {
        yamllint(fx(f));
    }
    expect_failure(try_yamllint(fx("yaml/duplicate-key.yml")), "key-duplicates");
}

#[test]
fn gitlab_ci_local_validation() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(fx("gitlab/good.yml"), tmp.path().join(".gitlab-ci.yml")).unwrap();
    let list = gitlab_ci_local_validate(tmp.path());
    assert!(list.contains("deps") && list.contains("[deps]"), "unexpected --list output:\n{list}");

    std::fs::copy(fx("gitlab/missing-needs.yml"), tmp.path().join(".gitlab-ci.yml")).unwrap();
    expect_failure(try_gitlab_ci_local_validate(tmp.path()), "could not be found");
    std::fs::copy(fx("gitlab/bad-schema.yml"), tmp.path().join(".gitlab-ci.yml")).unwrap();
    expect_failure(try_gitlab_ci_local_validate(tmp.path()), "expire_in");
}

#[test]
fn check_all_passes_every_good_sample() {
    check_all("github", fx("github/good.yml"));
    check_all("gitlab", fx("gitlab/good.yml"));
    check_all("drone", fx("drone/good.yml"));
    check_all("woodpecker", fx("woodpecker/good.yml"));
}
