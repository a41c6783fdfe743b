//! `gen-pipeline.yml`: the project's decisions (CI system, image, targets, split, builder, …).
//! Command-line flags override it. Unknown keys and wrong types are errors with the file's line.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::diag::{Diagnostic, Span};
use crate::plan::{Builder, Secret, Split};
use crate::render::{Ci, Daemon};

/// The default config file name, looked up in the repository root.
pub const FILE_NAME: &str = "gen-pipeline.yml";

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// CI systems to generate for (one or several).
    #[serde(default, deserialize_with = "one_or_many")]
    pub ci: Vec<CiName>,
    /// Output path per CI system (defaults: the CI's conventional path).
    #[serde(default)]
    pub output: BTreeMap<CiName, String>,
    pub dockerfile: Option<String>,
    pub context: Option<String>,
    /// Image repository prefix; each job pushes `<image>/<stage>`.
    pub image: Option<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    /// Stage -> repository of each published image (`{api: ghcr.io/acme/api}`); when set, only
    /// these stages are pushed (and, without `targets:`, they are the targets).
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    /// Stages built for their verdict (tests, lint, validation) and never pushed. Unset: detected
    /// by name and shape (see `plan --format text`); `[]`: none.
    pub checks: Option<Vec<String>>,
    pub split: Option<SplitName>,
    pub builder: Option<BuilderName>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<SecretEntry>,
    #[serde(default)]
    pub platforms: Vec<String>,
    #[serde(default)]
    pub extra_tags: Vec<String>,
    pub default_branch: Option<String>,
    /// Drone/Woodpecker: reach Docker through the host socket or a dind service.
    pub daemon: Option<DaemonName>,
    #[serde(default)]
    pub cache: CacheConfig,
    pub provenance: Option<bool>,
    /// Pin the Dockerfile frontend (`BUILDKIT_SYNTAX` build arg), e.g. `docker/dockerfile:1.7`.
    pub buildkit_syntax: Option<String>,
    /// A folder of templates overriding the embedded ones.
    pub templates: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheConfig {
    #[serde(default)]
    pub write_on_tag: bool,
    #[serde(default)]
    pub write_on_pr: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct SecretEntry {
    pub id: String,
    pub env: String,
}

impl From<SecretEntry> for Secret {
    fn from(s: SecretEntry) -> Secret {
        Secret {
            id: s.id,
            env: s.env,
        }
    }
}

/// A config value parsed with the target type's own `FromStr` (one list of accepted names).
macro_rules! named_enum {
    ($name:ident => $target:ty) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(pub $target);
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse::<$target>().map($name)
            }
        }
    };
}

named_enum!(CiName => Ci);
named_enum!(SplitName => Split);
named_enum!(BuilderName => Builder);
named_enum!(DaemonName => Daemon);

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<CiName>, D::Error> {
    // One name or a list; decided by shape so the error names the bad value.
    let v = serde_yaml::Value::deserialize(d)?;
    match v {
        serde_yaml::Value::Sequence(_) => {
            Vec::<CiName>::deserialize(v).map_err(serde::de::Error::custom)
        }
        other => CiName::deserialize(other)
            .map(|c| vec![c])
            .map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{diag}")]
pub struct ConfigError {
    pub diag: Diagnostic,
}

/// Parse a config file's text.
pub fn parse(source: &str) -> Result<Config, ConfigError> {
    if source.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_yaml::from_str(source).map_err(|e| {
        let span = e
            .location()
            .map(|l| Span {
                line: l.line(),
                col: l.column(),
            })
            .unwrap_or(Span { line: 1, col: 1 });
        // serde's message ends with " at line L column C"; the span carries that already.
        let msg = e.to_string();
        let msg = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        ConfigError {
            diag: Diagnostic::new(span, msg),
        }
    })
}

/// The commented config `gen-pipeline init` writes.
pub fn template(detected: &Detected) -> String {
    let mut out = String::new();
    out.push_str(
        "# gen-pipeline configuration: project decisions. Command-line flags override these.\n",
    );
    out.push_str("# Reference: every key is listed below; remove the `#` to set one.\n\n");
    out.push_str("# CI system(s) to generate for: github, gitlab, drone, woodpecker.\n");
    if detected.ci.is_empty() {
        out.push_str("ci: github\n");
    } else {
        out.push_str(&format!(
            "ci: [{}]\n",
            detected
                .ci
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str("# Where each pipeline is written (defaults shown).\n# output:\n");
    for c in Ci::ALL {
        out.push_str(&format!("#   {}: {}\n", c.name(), c.default_path()));
    }
    out.push_str(&format!(
        "\ndockerfile: {}\n# context: .\n",
        detected.dockerfile
    ));
    match &detected.image {
        Some(i) => out.push_str(&format!("\n# Image repository: the final stage pushes <image>, other targets <image>/<stage>,\n# stages handed on only by digest <image>/stages/<stage>.\nimage: {i}\n")),
        None => out.push_str("\n# Image repository: the final stage pushes <image>, other targets <image>/<stage>,\n# stages handed on only by digest <image>/stages/<stage>.\n# image: registry.example.com/team/project\n"),
    }
    out.push_str("\n# Stage -> repository of each published image; when set, only these stages are pushed.\n# images: {app: ghcr.io/acme/app}\n");
    out.push_str(&init_targets(detected));
    out.push_str(
        "\n# Which stages get their own job: shared (targets + stages two jobs need), all, targets.\n# split: shared\n\
         \n# buildx (BuildKit, docker-container driver) or buildah (daemonless runners).\n# builder: buildx\n\
         \n# build-args: {KEY: value}\n# secrets: [{id: npmrc, env: NPM_TOKEN}]\n# platforms: [linux/amd64]\n# extra-tags: []\n\
         \n# Default branch (whose cache every new branch starts from); detected from git when unset.\n",
    );
    match &detected.default_branch {
        Some(b) => out.push_str(&format!("# default-branch: {b}\n")),
        None => out.push_str("# default-branch: main\n"),
    }
    out.push_str(
        "\n# Drone/Woodpecker: reach Docker through the host socket (trusted repo) or a dind service.\n# daemon: host\n\
         \n# Tag and PR builds read the default branch's cache; set these to let them write their own.\n# cache:\n#   write-on-tag: false\n#   write-on-pr: false\n\
         \n# Provenance attestations (the pushed digest is then an image index; both resolve).\n# provenance: false\n\
         \n# Pin the Dockerfile frontend (named build contexts need 1.4 or later).\n# buildkit-syntax: docker/dockerfile:1\n\
         \n# A folder of templates that replace the embedded ones (<ci>/pipeline.yml.j2, shared/*.sh).\n# templates: ci-templates\n",
    );
    out
}

/// The `targets:` / `checks:` part of `init`'s config: what the default plan detected, so the
/// user decides once (every other stage is listed, commented, with the plan's reason).
fn init_targets(d: &Detected) -> String {
    let mut out = String::new();
    let Some(p) = &d.plan else {
        out.push_str("\n# Stages to build (default: the stages no other stage needs; see `gen-pipeline plan`).\n");
        if d.stages.is_empty() {
            out.push_str("# targets: []\n");
        } else {
            out.push_str(&format!(
                "# stages found: {}\n# targets: []\n",
                d.stages.join(", ")
            ));
        }
        return out;
    };
    out.push_str("\n# Stages to build: what `gen-pipeline plan` detected (it prints the reason for every stage).\n");
    let named = p.targets.iter().all(|t| !t.is_empty());
    let list = if named {
        p.targets.join(", ")
    } else {
        p.labels.join(", ")
    };
    if named && !p.targets.is_empty() {
        out.push_str(&format!("targets: [{list}]\n"));
    } else {
        out.push_str(&format!(
            "# (the final stage has no name, so the targets are left to the default)\n# targets: [{list}]\n"
        ));
    }
    if !p.checks.is_empty() {
        out.push_str("# Checks among them (built, never pushed), detected by name or shape; set `checks:` to\n# choose them yourself (`checks: []` for none):\n");
        for (name, why) in &p.checks {
            out.push_str(&format!("#   {name}: {why}\n"));
        }
        let names: Vec<&str> = p.checks.iter().map(|(n, _)| n.as_str()).collect();
        out.push_str(&format!("# checks: [{}]\n", names.join(", ")));
    } else {
        out.push_str("# checks: []\n");
    }
    if !p.others.is_empty() {
        out.push_str("# Not targets (add one to `targets:` to build it):\n");
        for (name, role, why) in &p.others {
            out.push_str(&format!("#   {name} ({role}): {why}\n"));
        }
    }
    out
}

/// What the default plan of the detected Dockerfile chose (for `init`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DetectedPlan {
    /// The targets (stage names; empty for an unnamed stage).
    pub targets: Vec<String>,
    /// Their labels (`stage-<index>` for an unnamed one).
    pub labels: Vec<String>,
    /// `(stage, why)` of the targets that are checks.
    pub checks: Vec<(String, String)>,
    /// `(stage, role, why)` of the alternatives and unused stages.
    pub others: Vec<(String, String, String)>,
}

impl DetectedPlan {
    pub fn from_plan(p: &crate::plan::Plan) -> Self {
        use crate::plan::StageRole;
        let mut d = DetectedPlan::default();
        for j in p.jobs.iter().filter(|j| j.is_target) {
            d.targets.push(j.stage.clone().unwrap_or_default());
            d.labels.push(j.label.clone());
            if j.check {
                let why = p
                    .stages
                    .iter()
                    .find(|s| s.index == j.stage_index)
                    .map(|s| s.reason.split("; built").next().unwrap_or("").to_string())
                    .unwrap_or_default();
                d.checks.push((j.label.clone(), why));
            }
        }
        for s in &p.stages {
            if matches!(s.role, StageRole::Alternative | StageRole::Unused) {
                d.others.push((
                    s.label.clone(),
                    s.role.as_str().to_string(),
                    s.reason.clone(),
                ));
            }
        }
        d
    }
}

/// What `init` found in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Detected {
    pub dockerfile: String,
    pub stages: Vec<String>,
    /// The default plan of the Dockerfile, when it could be planned.
    pub plan: Option<DetectedPlan>,
    pub image: Option<String>,
    pub default_branch: Option<String>,
    pub ci: Vec<Ci>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses() {
        let c = parse(
            "ci: [gitlab, drone]\nimage: registry.example.com/a/b\ntargets: [app1]\nsplit: all\nbuilder: buildah\n\
             build-args: {PY: '3.12'}\nsecrets: [{id: npmrc, env: NPM_TOKEN}]\ncache: {write-on-tag: true}\ndaemon: dind\n",
        )
        .unwrap();
        assert_eq!(c.ci, vec![CiName(Ci::Gitlab), CiName(Ci::Drone)]);
        assert_eq!(c.split, Some(SplitName(Split::All)));
        assert_eq!(c.builder, Some(BuilderName(Builder::Buildah)));
        assert_eq!(c.build_args["PY"], "3.12");
        assert!(c.cache.write_on_tag && !c.cache.write_on_pr);
        assert_eq!(c.daemon, Some(DaemonName(Daemon::Dind)));
        assert_eq!(parse("ci: github\n").unwrap().ci, vec![CiName(Ci::Github)]);
    }

    #[test]
    fn unknown_key_names_line_and_accepted_keys() {
        let e = parse("ci: github\nimgae: x\n").unwrap_err();
        assert_eq!(e.diag.span, Span { line: 2, col: 1 });
        assert!(
            e.diag.message.contains("unknown field `imgae`"),
            "{}",
            e.diag.message
        );
        assert!(e.diag.message.contains("`image`"), "{}", e.diag.message);
    }

    #[test]
    fn wrong_type_and_bad_enum() {
        let e = parse("targets: app1\n").unwrap_err();
        assert_eq!(e.diag.span.line, 1);
        assert!(
            e.diag.message.contains("expected a sequence"),
            "{}",
            e.diag.message
        );
        let e = parse("split: some\n").unwrap_err();
        assert!(
            e.diag
                .message
                .contains("unknown split policy `some` (expected shared, all or targets)"),
            "{}",
            e.diag.message
        );
        let e = parse("ci: [github, jenkins]\n").unwrap_err();
        assert!(e.diag.message.contains("jenkins"), "{}", e.diag.message);
    }

    #[test]
    fn images_and_checks_keys() {
        let c = parse("images: {api: ghcr.io/acme/api}\nchecks: [test, lint]\n").unwrap();
        assert_eq!(c.images["api"], "ghcr.io/acme/api");
        assert_eq!(c.checks, Some(vec!["test".to_string(), "lint".to_string()]));
        assert_eq!(parse("checks: []\n").unwrap().checks, Some(vec![]));
        assert_eq!(parse("ci: github\n").unwrap().checks, None);
        let e = parse("images: [api]\n").unwrap_err();
        assert!(
            e.diag.message.contains("expected a map"),
            "{}",
            e.diag.message
        );
    }

    #[test]
    fn init_writes_the_detected_targets_and_checks() {
        let d = Detected {
            dockerfile: "Dockerfile".into(),
            plan: Some(DetectedPlan {
                targets: vec!["app".into(), "test".into()],
                labels: vec!["app".into(), "test".into()],
                checks: vec![("test".into(), "its name has the word `test`".into())],
                others: vec![(
                    "bin-windows".into(),
                    "alternative".into(),
                    "not selected by TARGETOS=linux".into(),
                )],
            }),
            ..Default::default()
        };
        let text = template(&d);
        let c = parse(&text).unwrap();
        assert_eq!(c.targets, ["app", "test"]);
        assert_eq!(
            c.checks, None,
            "checks stay detected unless the user decides"
        );
        assert!(text.contains("# checks: [test]"), "{text}");
        assert!(
            text.contains("#   bin-windows (alternative): not selected by TARGETOS=linux"),
            "{text}"
        );
    }

    #[test]
    fn init_template_is_a_valid_config() {
        let d = Detected {
            dockerfile: "Dockerfile".into(),
            stages: vec!["base".into(), "app".into()],
            image: Some("ghcr.io/o/n".into()),
            default_branch: Some("main".into()),
            ci: vec![Ci::Github],
            plan: None,
        };
        let c = parse(&template(&d)).unwrap();
        assert_eq!(c.ci, vec![CiName(Ci::Github)]);
        assert_eq!(c.image.as_deref(), Some("ghcr.io/o/n"));
    }
}
