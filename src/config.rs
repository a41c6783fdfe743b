//! `gen-pipeline.yml`: the project's decisions (CI system, image, targets, split, builder, …).
//! Command-line flags override it. Unknown keys and wrong types are errors with the file's line.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::diag::{Diagnostic, Span};
use crate::plan::{Builder, Secret, Split};
use crate::render::{Ci, Daemon, GitlabMode};

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
    #[serde(default, deserialize_with = "one_or_many")]
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
    #[serde(default, deserialize_with = "one_or_many")]
    pub secrets: Vec<SecretEntry>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub platforms: Vec<String>,
    /// Native runner per platform and CI (`runners: {linux/arm64: {github: ubuntu-24.04-arm}}`):
    /// with it, every stage is built in one job per platform on that platform's runner and a merge
    /// job per published image creates the index (see the README, "Multi-platform on native
    /// runners"). A platform without an entry runs on the default runner (QEMU when it is not the
    /// first platform).
    #[serde(default)]
    pub runners: BTreeMap<String, RunnerEntry>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub extra_tags: Vec<String>,
    pub default_branch: Option<String>,
    /// Drone/Woodpecker: reach Docker through the host socket or a dind service.
    pub daemon: Option<DaemonName>,
    /// GitLab: `pipeline` (the whole `.gitlab-ci.yml`) or `include` (a file a hand-written
    /// `.gitlab-ci.yml` includes).
    pub gitlab_mode: Option<GitlabModeName>,
    #[serde(default)]
    pub cache: CacheConfig,
    pub provenance: Option<bool>,
    /// Skip a job whose stage input key already has an image (default true); `false` always builds.
    pub skip: Option<bool>,
    /// Pin the Dockerfile frontend (`BUILDKIT_SYNTAX` build arg), e.g. `docker/dockerfile:1.7`.
    pub buildkit_syntax: Option<String>,
    /// A folder of templates overriding the embedded ones.
    pub templates: Option<String>,
    /// The BuildKit image the docker-container builder runs (default: a pinned release,
    /// [`crate::plan::DEFAULT_BUILDKIT_IMAGE`]).
    pub buildkit_image: Option<String>,
    /// A buildkitd TOML config (registry mirrors, private registry CAs), relative to this file.
    pub buildkitd_config: Option<String>,
    /// A generated registry cleanup job (`gen-pipeline gc --apply` on a schedule); off unless
    /// `enabled: true`.
    pub gc: Option<GcConfig>,
}

/// `gc: {enabled, older-than, schedule}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GcConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The job's `--older-than` (default [`crate::gc::DEFAULT_OLDER_THAN`]).
    pub older_than: Option<Age>,
    /// GitHub's weekly `schedule:` cron (default [`crate::plan::DEFAULT_GC_SCHEDULE`]).
    pub schedule: Option<Cron>,
}

/// An age as `gen-pipeline gc --older-than` takes it (`14d`, `12h`, `0s`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Age(pub String);

impl TryFrom<String> for Age {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match crate::gc::parse_age(&s) {
            Some(_) => Ok(Age(s)),
            None => Err(format!(
                "invalid age `{s}` (expected a number and a unit s, m, h, d or w, e.g. 14d)"
            )),
        }
    }
}

/// A five-field cron expression (minute hour day-of-month month day-of-week, UTC) of digits,
/// `*`, `,`, `-` and `/`: the form GitHub's `schedule:` accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Cron(pub String);

impl TryFrom<String> for Cron {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let fields: Vec<&str> = s.split(' ').collect();
        let ok = fields.len() == 5
            && fields.iter().all(|f| {
                !f.is_empty()
                    && f.chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '*' | ',' | '-' | '/'))
            });
        if ok {
            Ok(Cron(s))
        } else {
            Err(format!(
                "invalid schedule `{s}` (expected five cron fields of digits, `*`, `,`, `-` and `/` separated by single spaces, e.g. \"17 3 * * 0\")"
            ))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheConfig {
    #[serde(default)]
    pub write_on_tag: bool,
    #[serde(default)]
    pub write_on_pr: bool,
}

/// One platform's runner, per CI: GitHub `runs-on` labels, GitLab runner tags, Drone node
/// labels and Woodpecker labels (`key=value` each). A CI left out runs that platform's jobs on its
/// default runner. Drone and Woodpecker choose a runner per pipeline: their labels for a platform
/// other than the build platform give that platform pipelines of its own (`render::split`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RunnerEntry {
    #[serde(default, deserialize_with = "one_or_many")]
    pub github: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub gitlab: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub drone: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub woodpecker: Vec<String>,
}

/// Where `runners:` names `platform` as a key (for a runner error), if found.
pub fn runner_span(source: &str, platform: &str) -> Option<Span> {
    let mut in_runners = false;
    for (ln, line) in source.lines().enumerate() {
        let sp = line.len() - line.trim_start().len();
        let rest = &line[sp..];
        if sp == 0 && !rest.is_empty() && !rest.starts_with('#') {
            in_runners = block_key(rest) == Some("runners");
        }
        if !in_runners {
            continue;
        }
        let mut search = 0;
        while let Some(p) = line[search..].find(platform) {
            let at = search + p;
            let end = at + platform.len();
            let before = line[..at].chars().next_back();
            let after = line[end..].chars().next();
            let ok_before = before.is_none_or(|c| " {,\"'".contains(c));
            let ok_after = after.is_some_and(|c| ":\"'".contains(c));
            if ok_before && ok_after {
                let col = line[..at].chars().count() + 1;
                return Some(Span { line: ln + 1, col });
            }
            search = end;
        }
    }
    None
}

/// `secrets: [{id, env, on-pr}]`. `on-pr: true` also passes the secret to Drone/Woodpecker's
/// pull-request step, whose code (the Dockerfile included) the pull request controls; by
/// default pull-request builds get no build secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecretEntry {
    pub id: String,
    pub env: String,
    #[serde(default)]
    pub on_pr: bool,
}

impl From<SecretEntry> for Secret {
    fn from(s: SecretEntry) -> Secret {
        Secret {
            id: s.id,
            env: s.env,
            on_pr: s.on_pr,
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
named_enum!(GitlabModeName => GitlabMode);

/// One value or a list of them (`targets: api` is `targets: [api]`); decided by shape so the
/// error names the bad value.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_yaml::Value::deserialize(d)?;
    match v {
        serde_yaml::Value::Sequence(_) => {
            Vec::<T>::deserialize(v).map_err(serde::de::Error::custom)
        }
        serde_yaml::Value::Null => Ok(Vec::new()),
        other => T::deserialize(other)
            .map(|c| vec![c])
            .map_err(serde::de::Error::custom),
    }
}

/// How deeply a config may nest (block indentation levels plus flow brackets). The real schema
/// nests three levels; the bound keeps a hostile file from making the YAML parser recurse or
/// crawl (100,000 levels took 19–38 s before this check).
pub const MAX_NESTING: usize = 64;

/// Refuse a config nested deeper than [`MAX_NESTING`], in one linear pass before any YAML
/// parsing: each line's indentation (and each `- ` on it) opens a block level, each `[`/`{`
/// outside quotes and comments a flow level.
fn check_nesting(source: &str) -> Result<(), ConfigError> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (ln, line) in source.lines().enumerate() {
        let sp = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[sp..];
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        if flow == 0 {
            while indents.last().is_some_and(|&t| t > sp) {
                indents.pop();
            }
            if indents.last() != Some(&sp) {
                indents.push(sp);
            }
            let mut col = sp;
            let mut r = rest;
            while let Some(after) = r.strip_prefix("- ").or_else(|| r.strip_prefix("-\t")) {
                col += 2;
                indents.push(col);
                r = after.trim_start_matches(' ');
            }
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (ci, c) in line.chars().enumerate() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '"' | '\'' if prev == ' ' || "[{,:".contains(prev) => quote = Some(c),
                    '#' if prev == ' ' || prev == '\t' => break,
                    '[' | '{' => flow += 1,
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            if indents.len() + flow > MAX_NESTING {
                return Err(ConfigError {
                    diag: Diagnostic::new(
                        Span {
                            line: ln + 1,
                            col: ci + 1,
                        },
                        format!("the configuration nests more than {MAX_NESTING} levels deep"),
                    )
                    .with_help("gen-pipeline.yml nests at most three levels (e.g. `cache:` → `write-on-tag:`)"),
                });
            }
            prev = c;
        }
    }
    Ok(())
}

/// A key defined twice in the same block mapping: its second definition's own line (serde only
/// reports the mapping's first line).
fn check_duplicates(source: &str) -> Result<(), ConfigError> {
    // (indent of the mapping's keys, keys seen with their line)
    let mut frames: Vec<(usize, Vec<(String, usize)>)> = Vec::new();
    let mut scalar_indent: Option<usize> = None;
    for (ln, line) in source.lines().enumerate() {
        let sp = line.len() - line.trim_start_matches(' ').len();
        let mut rest = &line[sp..];
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        if let Some(si) = scalar_indent {
            if sp > si {
                continue; // inside a block scalar
            }
            scalar_indent = None;
        }
        let mut indent = sp;
        let mut item = false;
        while let Some(after) = rest.strip_prefix("- ") {
            let trimmed = after.trim_start_matches(' ');
            indent += rest.len() - trimmed.len();
            rest = trimmed;
            item = true;
        }
        let Some(key) = block_key(rest) else {
            continue;
        };
        while frames
            .last()
            .is_some_and(|(i, _)| *i > indent || (item && *i == indent))
        {
            frames.pop();
        }
        if frames.last().map(|(i, _)| *i) != Some(indent) {
            frames.push((indent, Vec::new()));
        }
        let keys = &mut frames.last_mut().expect("pushed above").1;
        if let Some((_, first)) = keys.iter().find(|(k, _)| *k == key) {
            return Err(ConfigError {
                diag: Diagnostic::new(
                    Span {
                        line: ln + 1,
                        col: indent + 1,
                    },
                    format!("duplicate key `{key}`"),
                )
                .with_help(format!(
                    "`{key}` is already set on line {first}; keep one of them"
                )),
            });
        }
        keys.push((key.to_string(), ln + 1));
        let value = rest[rest.find(':').map_or(rest.len(), |i| i + 1)..].trim();
        if value.starts_with('|') || value.starts_with('>') {
            scalar_indent = Some(indent);
        }
    }
    Ok(())
}

/// The key of a `key: value` / `key:` line (plain or quoted), if the line is one.
fn block_key(rest: &str) -> Option<&str> {
    let (key, after) = if let Some(r) = rest.strip_prefix('"') {
        let end = r.find('"')?;
        (&r[..end], &r[end + 1..])
    } else if let Some(r) = rest.strip_prefix('\'') {
        let end = r.find('\'')?;
        (&r[..end], &r[end + 1..])
    } else {
        let end = rest.find(':')?;
        let k = &rest[..end];
        if k.is_empty()
            || k.contains(['[', '{', '#', '"', '\'', ','])
            || k.contains(char::is_whitespace)
        {
            return None;
        }
        (k, &rest[end..])
    };
    let after = after.trim_start_matches(' ');
    let colon = after.strip_prefix(':')?;
    (colon.is_empty() || colon.starts_with([' ', '\t'])).then_some(key)
}

/// A "did you mean" for serde's "unknown field `x`, expected one of `a`, `b`" and the enum
/// messages "unknown … `x` (expected a, b or c)": the first back-quoted word against the words
/// listed after "expected".
fn did_you_mean(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    let bad = &message[start..start + len];
    let listed = &message[start + len + 1..];
    let listed = &listed[listed.find("expected")? + "expected".len()..];
    let words: Vec<&str> = listed
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| !w.is_empty() && !matches!(*w, "one" | "of" | "or" | "a" | "an"))
        .collect();
    crate::diag::suggest(bad, words).map(|s| format!("did you mean `{s}`?"))
}

/// Where a `key: value` line of a config's text has `value` (quoted or not), if found.
fn value_span(source: &str, key: &str, value: &str) -> Option<Span> {
    source.lines().enumerate().find_map(|(ln, line)| {
        let rest = line.trim_start();
        let after = rest.strip_prefix(key)?.trim_start().strip_prefix(':')?;
        let at = after.find(value)?;
        let col = line.len() - after.len() + at;
        let col = line[..col].chars().count() + 1;
        let col = if line[..col - 1].ends_with(['"', '\'']) {
            col - 1
        } else {
            col
        };
        Some(Span { line: ln + 1, col })
    })
}

/// Where `targets:` names `target` in a config's text (for an unknown target's error), if found.
pub fn target_span(source: &str, target: &str) -> Option<Span> {
    let mut in_targets = false;
    for (ln, line) in source.lines().enumerate() {
        let sp = line.len() - line.trim_start().len();
        let rest = &line[sp..];
        if sp == 0 && !rest.is_empty() && !rest.starts_with('#') && !rest.starts_with('-') {
            in_targets = block_key(rest) == Some("targets");
        }
        if !in_targets {
            continue;
        }
        let from = if sp == 0 {
            rest.find(':').map_or(0, |i| i + 1)
        } else {
            0
        };
        let text = &rest[from..];
        let mut search = 0;
        while let Some(p) = text[search..].find(target) {
            let at = search + p;
            let end = at + target.len();
            let boundary =
                |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || "-_.".contains(c)));
            if boundary(text[..at].chars().next_back()) && boundary(text[end..].chars().next()) {
                let col = line[..sp + from + at].chars().count() + 1;
                return Some(Span { line: ln + 1, col });
            }
            search = end;
        }
    }
    None
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
    check_nesting(source)?;
    check_duplicates(source)?;
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
        let help = did_you_mean(&msg);
        // serde_yaml places a nested value's conversion error at its mapping: point at the value.
        let span = [
            ("invalid age `", "older-than"),
            ("invalid schedule `", "schedule"),
        ]
        .iter()
        .find_map(|(what, key)| {
            let at = msg.find(what)? + what.len();
            let value = &msg[at..at + msg[at..].find('`')?];
            value_span(source, key, value)
        })
        .unwrap_or(span);
        let mut diag = Diagnostic::new(span, msg);
        if let Some(h) = help {
            diag = diag.with_help(h);
        }
        ConfigError { diag }
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
    for (ci, path) in &detected.left_out {
        out.push_str(&format!(
            "# {} is left out: {path} was not generated by gen-pipeline, which never overwrites it\n\
             # without --force. To generate it, add it above and give it an `output:` path of its own.\n",
            ci.name()
        ));
    }
    if detected.gitlab_include {
        let path = GitlabMode::Include.default_path();
        out.push_str(&format!(
            "# .gitlab-ci.yml is hand-written: generate a file it includes (add to .gitlab-ci.yml:\n\
             #   include:\n#     - local: {path}\n\
             # ); its jobs are named gen-pipeline-<stage> and run in the .pre stage.\n\
             gitlab-mode: include\n"
        ));
    } else {
        out.push_str("# GitLab: `pipeline` (the whole .gitlab-ci.yml) or `include` (a file your .gitlab-ci.yml includes).\n# gitlab-mode: pipeline\n");
    }
    out.push_str("# Where each pipeline is written (paths inside the repository; defaults shown).\n# output:\n");
    for c in Ci::ALL {
        let path = if c == Ci::Gitlab && detected.gitlab_include {
            GitlabMode::Include.default_path()
        } else {
            c.default_path()
        };
        out.push_str(&format!("#   {}: {}\n", c.name(), path));
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
         \n# build-args: {KEY: value}\n# Build secrets; Drone/Woodpecker pull-request builds get one only with `on-pr: true`.\n# secrets: [{id: npmrc, env: NPM_TOKEN}]\n# platforms: [linux/amd64]\n# extra-tags: []\n\
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
         \n# The BuildKit the docker-container builder runs (default: a pinned release), and a buildkitd\n# config for it (registry mirrors, a private registry's CA), relative to this file.\n# buildkit-image: moby/buildkit:v0.33.0\n# buildkitd-config: ci/buildkitd.toml\n\
         \n# A folder of templates that replace the embedded ones (<ci>/pipeline.yml.j2, shared/*.sh).\n# templates: ci-templates\n\
         \n# A registry cleanup job (`gen-pipeline gc --apply`) in the pipelines: GitHub on branch deletion and\n# weekly (`schedule`, UTC), GitLab in schedules with GP_GC=true, Drone/Woodpecker on the cron job gen-pipeline-gc.\n# gc:\n#   enabled: true\n#   older-than: 14d\n#   schedule: \"17 3 * * 0\"\n",
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
    /// A hand-written `.gitlab-ci.yml` exists: generate a file it can include.
    pub gitlab_include: bool,
    /// CI systems found with a hand-written pipeline file, left out of `ci:` (CI, path).
    pub left_out: Vec<(Ci, String)>,
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

    /// Issue 9, section 6: pull-request builds get a build secret only when the config says so.
    #[test]
    fn secrets_reach_pull_requests_only_when_opted_in() {
        let c = parse(
            "secrets:\n  - {id: npmrc, env: NPM_TOKEN}\n  - {id: pypi, env: PYPI_TOKEN, on-pr: true}\n",
        )
        .unwrap();
        let s: Vec<Secret> = c.secrets.into_iter().map(Into::into).collect();
        assert!(!s[0].on_pr && s[1].on_pr);
        // A misspelt key is an error, not a secret silently kept from (or given to) pull requests.
        let e = parse("secrets: [{id: npmrc, env: NPM_TOKEN, on-PR: true}]\n").unwrap_err();
        assert!(
            e.diag.message.contains("unknown field `on-PR`"),
            "{}",
            e.diag.message
        );
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
        let e = parse("targets: {a: 1}\n").unwrap_err();
        assert_eq!(e.diag.span.line, 1);
        assert!(
            e.diag.message.contains("expected a string"),
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

    /// Section 7: suggestions for unknown keys and enum values.
    #[test]
    fn config_typos_get_a_did_you_mean() {
        let cases = [
            ("ci: githb\n", "did you mean `github`?"),
            ("target: [api]\n", "did you mean `targets`?"),
            ("split: target\n", "did you mean `targets`?"),
            ("builder: bildah\n", "did you mean `buildah`?"),
            (
                "cache:\n  write-on-tg: true\n",
                "did you mean `write-on-tag`?",
            ),
            ("ci: [github, gitlba]\n", "did you mean `gitlab`?"),
        ];
        for (src, help) in cases {
            let e = parse(src).unwrap_err();
            assert_eq!(e.diag.help.as_deref(), Some(help), "{src:?}: {}", e.diag);
        }
    }

    /// Section 7: a duplicate key is reported at its own (second) line.
    #[test]
    fn duplicate_key_points_at_its_own_line() {
        let e = parse("ci: github\nimage: a/b\nci: gitlab\n").unwrap_err();
        assert_eq!(e.diag.span, Span { line: 3, col: 1 });
        assert_eq!(e.diag.message, "duplicate key `ci`");
        assert!(e.diag.help.unwrap().contains("line 1"));
        let e = parse("output:\n  github: a.yml\n  gitlab: b.yml\n  github: c.yml\n").unwrap_err();
        assert_eq!(e.diag.span, Span { line: 4, col: 3 });
        // The same key in different mappings or list items is no duplicate.
        parse("secrets:\n  - id: a\n    env: A\n  - id: b\n    env: B\ncache:\n  write-on-tag: true\n")
            .unwrap();
    }

    /// Section 7: a scalar where a list is expected is a one-element list.
    #[test]
    fn scalar_where_a_list_is_expected_is_one_element() {
        let c = parse("targets: api\nplatforms: linux/arm64\nextra-tags: stable\nsecrets: {id: npmrc, env: NPM_TOKEN}\n").unwrap();
        assert_eq!(c.targets, ["api"]);
        assert_eq!(c.platforms, ["linux/arm64"]);
        assert_eq!(c.extra_tags, ["stable"]);
        assert_eq!(c.secrets.len(), 1);
        assert_eq!(parse("targets: [a, b]\n").unwrap().targets, ["a", "b"]);
    }

    /// Section 7: an unknown target from the config is located at its line there.
    #[test]
    fn unknown_target_is_located_in_the_config() {
        let src = "ci: github\ntargets: [api, wbe]\n";
        assert_eq!(target_span(src, "wbe"), Some(Span { line: 2, col: 16 }));
        let src = "targets:\n  - api\n  - wbe # typo\nimage: wbe/x\n";
        assert_eq!(target_span(src, "wbe"), Some(Span { line: 3, col: 5 }));
        assert_eq!(
            target_span("targets: wbe\n", "wbe"),
            Some(Span { line: 1, col: 10 })
        );
        assert_eq!(target_span("image: wbe\n", "wbe"), None);
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
            ..Detected::default()
        };
        let c = parse(&template(&d)).unwrap();
        assert_eq!(c.ci, vec![CiName(Ci::Github)]);
        assert_eq!(c.image.as_deref(), Some("ghcr.io/o/n"));
        assert_eq!(c.gc, None, "the cleanup job is off by default");
    }

    /// `gc:` (issue 14's generated cleanup jobs): the commented block `init` writes is valid
    /// once uncommented; bad ages and schedules are refused at their value.
    #[test]
    fn gc_key_parses_and_checks_its_values() {
        let d = Detected::default();
        let text = template(&d);
        let block: String = text
            .lines()
            .skip_while(|l| *l != "# gc:")
            .take(4)
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let c = parse(&block).unwrap();
        let gc = c.gc.unwrap();
        assert!(gc.enabled);
        assert_eq!(gc.older_than, Some(Age("14d".into())));
        assert_eq!(gc.schedule, Some(Cron("17 3 * * 0".into())));
        for (src, line, col, what) in [
            (
                "gc:\n  enabled: true\n  older-than: 14days\n",
                3,
                15,
                "invalid age `14days`",
            ),
            (
                "gc:\n  schedule: '0 3 * *'\n",
                2,
                13,
                "invalid schedule `0 3 * *`",
            ),
            ("gc:\n  schedule: 0 3 * * MON\n", 2, 13, "invalid schedule"),
        ] {
            let e = parse(src).unwrap_err();
            assert_eq!(e.diag.span, Span { line, col }, "{src}");
            assert!(e.diag.message.contains(what), "{}", e.diag.message);
        }
    }
}
