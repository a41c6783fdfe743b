//! Issue 9: Drone and Woodpecker files that their runners accept, whatever the values in them
//! (section 1), and pull-request builds that get no build secret unless the config opts in
//! (section 6). Every file is read the way the runner reads it: through the drone/envsubst oracle
//! (`crate::envsubst`) first.

use std::collections::BTreeSet;
use std::process::Command;

use serde_yaml::Value;

use crate::tools::{check_all, gen_ok, repo_root};

const CIS: [&str; 2] = ["drone", "woodpecker"];

/// The runner's view of a generated file: substituted by the oracle (which also requires that no
/// variable is referenced), then every YAML document.
fn runner_docs(what: &str, text: &str) -> Vec<Value> {
    let text = crate::envsubst::runner_view(what, text, &[]);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Every step of a file: Drone's per pipeline document, Woodpecker's one list.
fn steps(docs: &[Value]) -> Vec<Value> {
    docs.iter()
        .flat_map(|d| d["steps"].as_sequence().cloned().unwrap_or_default())
        .collect()
}

/// The pull-request steps: those whose `when` selects the `pull_request` event (both CIs: one
/// pipeline, whose steps are selected by event).
fn pr_steps(docs: &[Value]) -> Vec<Value> {
    steps(docs).into_iter().filter(is_pr).collect()
}

fn is_pr(step: &Value) -> bool {
    serde_yaml::to_string(&step["when"])
        .unwrap()
        .contains("pull_request")
}

/// The `from_secret` ids a step's environment takes.
fn from_secrets(step: &Value) -> BTreeSet<String> {
    step["environment"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| v.get("from_secret").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn commands(step: &Value) -> Vec<String> {
    step["commands"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// Issue 9 section 1: values holding `$`, `${…}`, `$$`, `$(…)` and backslashes (build args, the
/// Dockerfile path, the context; so also the header's path and regenerate command) reach the
/// runner's view, and then the shell, exactly as given: the runner's substitution accepts the
/// file, substitutes nothing, and the build command receives the intended arguments. Fails on a
/// file with any unescaped `${` (every file before the fix: line 9's comment) or a value whose
/// `$`/`\` the runner would alter.
#[test]
fn drone_woodpecker_files_survive_the_runner_substitution_with_hostile_values() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pwned = root.join("pwned");
    // A folder name with every character the substitution treats specially is refused when
    // generating (exit 2: paths are validated before they reach any CI file), so the path case
    // below uses the characters a path may still have; the build args carry the hostile values.
    let hostile = r"src$HOME${x}$$\\\/-$(id)".replace('/', "_");
    std::fs::create_dir_all(root.join(&hostile)).unwrap();
    std::fs::write(
        root.join(&hostile).join("Dockerfile"),
        "FROM busybox:1 AS app\n",
    )
    .unwrap();
    let dir = "src.dir_1-x".to_string();
    std::fs::create_dir_all(root.join(&dir)).unwrap();
    std::fs::write(
        root.join(&dir).join("Dockerfile"),
        "FROM busybox:1 AS deps\nARG A\nRUN echo deps\n\nFROM deps AS app\nRUN echo app\n\nFROM deps AS app2\nRUN echo app2\n",
    )
    .unwrap();
    crate::tools::git_init_commit(root, "main");
    for ci in CIS {
        let out = crate::tools::gen_pipeline()
            .current_dir(root)
            .args(["--ci", ci, "--image", "registry.example.com/team/proj"])
            .args([
                "-f",
                &format!("{hostile}/Dockerfile"),
                "--context",
                &hostile,
                "-o",
                "-",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{ci}: a `$` path must be refused"
        );
        assert!(out.stdout.is_empty(), "{ci}: nothing rendered");
    }
    let dockerfile = format!("{dir}/Dockerfile");
    let args: Vec<(&str, String)> = vec![
        ("A", "${x}".into()),
        ("B", "$$ and $$$".into()),
        ("C", format!("$(touch {})", pwned.display())),
        ("D", r"back\slash \/ \\ end\".into()),
        ("E", r#"quo"te's ${HOME:-x} $1 `id`"#.into()),
    ];
    for builder in ["buildx", "buildah"] {
        for ci in CIS {
            let mut cmd = vec![
                "--ci".to_string(),
                ci.into(),
                "--builder".into(),
                builder.into(),
                "--image".into(),
                "registry.example.com/team/proj".into(),
                "-f".into(),
                dockerfile.clone(),
                "--context".into(),
                dir.clone(),
                "-o".into(),
                "-".into(),
            ];
            for (k, v) in &args {
                cmd.push("--build-arg".into());
                cmd.push(format!("{k}={v}"));
            }
            let out = gen_ok(root, &cmd);
            let raw = String::from_utf8(out.stdout).unwrap();
            let what = format!("{ci} ({builder})");
            let docs = runner_docs(&what, &raw);
            let text = crate::envsubst::runner_view(&what, &raw, &[]);
            // Header lines: the Dockerfile path and the regenerate command, verbatim.
            assert!(
                text.lines().next().unwrap().contains(&dockerfile),
                "{what}: {}",
                text.lines().next().unwrap()
            );
            assert!(
                text.lines()
                    .any(|l| l.starts_with("# Regenerate with: ") && l.contains(&dockerfile)),
                "{what}"
            );
            // The template's own script arrives as written: `$$` in the file is `$` for the shell,
            // and the shared shell the `lib` step writes is the embedded one, byte for byte,
            // followed by this pipeline's settings.
            let lib_step = steps(&docs)
                .into_iter()
                .find(|s| s["name"].as_str() == Some("lib"))
                .unwrap_or_else(|| panic!("{what}: no lib step"));
            assert!(
                lib_step["when"].is_null(),
                "{what}: lib runs on every event"
            );
            assert!(
                lib_step["environment"].is_null(),
                "{what}: the lib step (pull requests too) takes no secret"
            );
            let write_lib = commands(&lib_step)
                .into_iter()
                .find(|c| c.contains("<<'GP_LIB'"))
                .unwrap_or_else(|| panic!("{what}: no lib.sh"));
            let volume = tempfile::tempdir().unwrap();
            let checkout = volume.path().join("src");
            std::fs::create_dir(&checkout).unwrap();
            let o = Command::new("sh")
                .arg("-c")
                .arg(&write_lib)
                .current_dir(&checkout)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let lib = std::fs::read_to_string(volume.path().join("gen-pipeline/lib.sh")).unwrap();
            let flavor = if builder == "buildah" {
                gen_pipeline::plan::Builder::Buildah
            } else {
                gen_pipeline::plan::Builder::Buildx
            };
            let want = gen_pipeline::render::compact_shell(
                gen_pipeline::render::shell_parts(flavor)
                    .iter()
                    .map(|n| gen_pipeline::render::embedded(n).unwrap()),
            ) + "\n";
            assert!(
                lib.starts_with(&want),
                "{what}: lib.sh does not start with the embedded shell"
            );
            // Sourced from the checkout, lib.sh sets the pipeline's settings, values verbatim.
            let o = Command::new("sh")
                .arg("-c")
                .arg(". ../gen-pipeline/lib.sh && printf '%s\\n' \"$GP_DOCKERFILE\" \"$GP_CONTEXT\" \"$GP_STATE\"")
                .current_dir(&checkout)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                format!(
                    "{dockerfile}\n{dir}\n{}\n",
                    volume
                        .path()
                        .join("gen-pipeline")
                        .canonicalize()
                        .unwrap()
                        .display()
                ),
                "{what}"
            );
            // The `deps` job's build command.
            let deps = steps(&docs)
                .into_iter()
                .find(|s| s["name"].as_str() == Some("deps"))
                .unwrap_or_else(|| panic!("{what}: no deps step"));
            let build = commands(&deps)
                .into_iter()
                .find(|c| c.starts_with("gp_build"))
                .unwrap_or_else(|| panic!("{what}: no gp_build command"));
            // Run it with a stand-in gp_build that prints its arguments, one per line.
            let script = format!(
                "gp_build() {{ for a in \"$@\"; do printf '%s\\n' \"$a\"; done; }}\n{build}\n"
            );
            let o = Command::new("sh")
                .arg("-c")
                .arg(&script)
                .current_dir(root)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let got: Vec<String> = String::from_utf8(o.stdout)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
            let want: Vec<String> = args
                .iter()
                .flat_map(|(k, v)| ["--build-arg".to_string(), format!("{k}={v}")])
                .collect();
            assert_eq!(got, want, "{what}: {build}");
            assert!(!pwned.exists(), "{what}: a build arg ran a command");
        }
    }
    // And the files pass every checker (oracle included) as written.
    for ci in CIS {
        let path = root.join(format!("{ci}.yml"));
        gen_ok(
            root,
            [
                "--ci",
                ci,
                "--image",
                "registry.example.com/team/proj",
                "-f",
                &dockerfile,
                "--context",
                &dir,
                "--build-arg",
                r"D=back\slash \/ \\ ${x}",
                "-o",
                path.to_str().unwrap(),
            ],
        );
        check_all(ci, &path);
    }
}

/// Issue 9 section 6: Drone/Woodpecker pull-request steps run the pull request's own Dockerfile,
/// so they get no build secret unless the config opts that secret in (`on-pr: true`); push steps
/// get every build secret; the file says which. Fails before the fix, when the pull-request step
/// took every build secret.
#[test]
fn drone_woodpecker_pull_request_steps_get_build_secrets_only_when_opted_in() {
    let cases: [(&str, &[&str]); 2] = [
        ("secrets:\n  - {id: npmrc, env: NPM_TOKEN}\n", &[]),
        (
            "secrets:\n  - {id: npmrc, env: NPM_TOKEN}\n  - {id: pypi, env: PYPI_TOKEN, on-pr: true}\n",
            &["pypi"],
        ),
    ];
    for (secrets, opted_in) in cases {
        let tmp = tempfile::tempdir().unwrap();
        crate::tools::copy_tree(&repo_root().join("examples/node-monorepo"), tmp.path());
        std::fs::write(
            tmp.path().join("gen-pipeline.yml"),
            format!("ci: [drone, woodpecker]\nimage: registry.example.com/team/proj\n{secrets}"),
        )
        .unwrap();
        let all_ids: Vec<&str> = if opted_in.is_empty() {
            vec!["npmrc"]
        } else {
            vec!["npmrc", "pypi"]
        };
        let env_of = |id: &str| {
            if id == "npmrc" {
                "npm_token"
            } else {
                "pypi_token"
            }
        };
        for ci in CIS {
            let out = gen_ok(tmp.path(), ["--ci", ci, "-o", "-"]);
            let raw = String::from_utf8(out.stdout).unwrap();
            let what = format!("{ci} with {secrets:?}");
            let docs = runner_docs(&what, &raw);
            let prs = pr_steps(&docs);
            assert_eq!(prs.len(), 1, "{what}: pull-request steps {prs:?}");
            let pr = &prs[0];
            let want: BTreeSet<String> = opted_in.iter().map(|id| env_of(id).to_string()).collect();
            assert_eq!(from_secrets(pr), want, "{what}");
            let pr_cmds = commands(pr).join("\n");
            for id in &all_ids {
                assert_eq!(
                    pr_cmds.contains(&format!("--secret id={id},")),
                    opted_in.contains(id),
                    "{what}: --secret {id} in the pull-request step"
                );
            }
            // Push steps that build take every build secret.
            let builds: Vec<Value> = steps(&docs)
                .into_iter()
                .filter(|s| !is_pr(s) && commands(s).iter().any(|c| c.starts_with("gp_build")))
                .collect();
            assert!(!builds.is_empty(), "{what}");
            for s in &builds {
                let got = from_secrets(s);
                for id in &all_ids {
                    assert!(
                        got.contains(env_of(id)),
                        "{what}: {} lacks {id}",
                        s["name"].as_str().unwrap()
                    );
                }
            }
            // The file says whether pull requests get secrets.
            assert!(
                raw.contains("# build secret `npmrc`")
                    && raw.contains("the pull-request build does not get it"),
                "{what}"
            );
            if opted_in.is_empty() {
                assert!(raw.contains("It gets no build secret either"), "{what}");
            } else {
                assert!(
                    raw.contains("the pull-request build gets it too")
                        && raw.contains("opted in with `on-pr: true`: pypi."),
                    "{what}"
                );
            }
        }
    }
}
