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
    /// Skip a job whose stage input key already has an image (default true); `false` always builds.
    pub skip: Option<bool>,
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
        Some(i) => out.push_str(&format!("\n# Image repository prefix; each job pushes <image>/<stage>.\nimage: {i}\n")),
        None => out.push_str("\n# Image repository prefix; each job pushes <image>/<stage>.\n# image: registry.example.com/team/project\n"),
    }
    out.push_str("\n# Stages to build (default: every stage no other stage needs).\n");
    if detected.stages.is_empty() {
        out.push_str("# targets: []\n");
    } else {
        out.push_str(&format!(
            "# stages found: {}\n# targets: []\n",
            detected.stages.join(", ")
        ));
    }
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
         \n# A job whose inputs (instructions, args, context files, base image digests) already have an\n# image retags it instead of building; false always builds.\n# skip: true\n\
         \n# Pin the Dockerfile frontend (named build contexts need 1.4 or later).\n# buildkit-syntax: docker/dockerfile:1\n\
         \n# A folder of templates that replace the embedded ones (<ci>/pipeline.yml.j2, shared/*.sh).\n# templates: ci-templates\n",
    );
    out
}

/// What `init` found in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Detected {
    pub dockerfile: String,
    pub stages: Vec<String>,
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
    fn init_template_is_a_valid_config() {
        let d = Detected {
            dockerfile: "Dockerfile".into(),
            stages: vec!["base".into(), "app".into()],
            image: Some("ghcr.io/o/n".into()),
            default_branch: Some("main".into()),
            ci: vec![Ci::Github],
        };
        let c = parse(&template(&d)).unwrap();
        assert_eq!(c.ci, vec![CiName(Ci::Github)]);
        assert_eq!(c.image.as_deref(), Some("ghcr.io/o/n"));
    }
}
