#!/usr/bin/env python3
"""Runner-free driver for bench/cache/run.sh: runs a generated .gitlab-ci.yml's jobs without a runner.

  direct.py run CI_YML BUILDS LOGS [NAME=VALUE...]  -> runs every job, prints the pipeline wall (s)
  direct.py phases LOGS                             -> where the jobs' time went (needs DIRECT_TRACE=1)

`run` does what gitlab-ci-local --force-shell-executor does for the generated pipeline, minus the runner:
each job gets its own copy of the checkout (BUILDS/<job>, made BEFORE the clock starts: the runner's
rsync is not the job's work), the NAME=VALUE variables (the CI_* of the branch, as run.sh passes them to
gitlab-ci-local), CI_JOB_NAME / CI_JOB_ID / CI_PROJECT_DIR / CI_COMMIT_SHA, then the global and the job's
`variables:` (values expanded against what is set so far, as GitLab does), then the dotenv reports of the
jobs it `needs:` (GitLab passes those to the needing job). The job's shell is one `bash` with
`set -eo pipefail` running before_script then script (the `.gen-pipeline` job the generated jobs
extend), then after_script in a second shell whose status is ignored. A job starts as soon as all its
needs have succeeded, so app1 and app2 run in parallel after deps. stdout+stderr go to LOGS/<job>.log.
The clock runs from the first job's start to the last job's end; the status is 1 when a job failed.

DIRECT_TRACE=1 runs the same shell with xtrace stamped by $EPOCHREALTIME (bash 5, no fork per line)
into LOGS/<job>.trace; `phases` then charges each traced command the time until the next traced line
and sums it per phase (login, context hashing, git status, skopeo inspect / manifest-digest / copy...).
Only a copy of the job shell is traced: the product's templates are not touched.
"""
import os, re, shutil, subprocess, sys, time

import yaml


def load(path):
    d = yaml.safe_load(open(path))
    glob = {k: str(v) for k, v in (d.get("variables") or {}).items()}
    jobs = {}
    reserved = {"workflow", "stages", "variables", "default", "include", "image", "services", "cache",
                "before_script", "after_script"}
    for name, j in d.items():
        if name in reserved or name.startswith(".") or not isinstance(j, dict):
            continue
        merged = {}
        for parent in ([j["extends"]] if isinstance(j.get("extends"), str) else j.get("extends") or []):
            merged.update(d[parent])
        variables = dict(merged.get("variables") or {})
        variables.update(j.get("variables") or {})
        merged.update(j)
        merged["variables"] = {k: str(v) for k, v in variables.items()}
        needs = [n if isinstance(n, str) else n["job"] for n in merged.get("needs") or []]
        dotenv = (((merged.get("artifacts") or {}).get("reports") or {}).get("dotenv"))
        jobs[name] = {"needs": needs, "vars": merged["variables"], "dotenv": dotenv,
                      "before": merged.get("before_script") or [], "script": merged.get("script") or [],
                      "after": merged.get("after_script") or []}
    return glob, jobs


VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(value, env):
    return VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


def read_dotenv(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k.strip()] = v
    return out


def run(ci_yml, builds, logs, assigns):
    glob, jobs = load(ci_yml)
    cli = dict(a.split("=", 1) for a in assigns)
    repo = os.path.dirname(os.path.abspath(ci_yml))
    sha = subprocess.check_output(["git", "-C", repo, "rev-parse", "HEAD"], text=True).strip()
    trace = os.environ.get("DIRECT_TRACE") == "1"
    os.makedirs(logs, exist_ok=True)
    # The runner's part, before the clock: one checkout copy per job (with .git, as a CI clone has).
    for name in jobs:
        d = os.path.join(builds, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(repo, d, symlinks=True, ignore=shutil.ignore_patterns(".gitlab-ci-local"))
    done, failed, procs, dotenv = set(), set(), {}, {}
    t0 = time.monotonic()
    ids = {n: str(1000 + i) for i, n in enumerate(sorted(jobs))}
    while len(done) + len(failed) < len(jobs):
        for name, j in jobs.items():
            if name in procs or name in done or name in failed:
                continue
            if any(n in failed for n in j["needs"]):
                failed.add(name)
                continue
            if not all(n in done for n in j["needs"]):
                continue
            d = os.path.abspath(os.path.join(builds, name))
            env = dict(os.environ)
            env.pop("DIRECT_TRACE", None)
            env.update({"CI": "true", "GITLAB_CI": "true", "CI_JOB_NAME": name, "CI_JOB_ID": ids[name],
                        "CI_JOB_STAGE": "build", "CI_PROJECT_DIR": d, "CI_COMMIT_SHA": sha,
                        "CI_PIPELINE_ID": "1"})
            env.update(cli)
            for k, v in glob.items():
                env[k] = expand(v, env)
            for k, v in j["vars"].items():
                env[k] = expand(v, env)
            for n in j["needs"]:
                env.update(dotenv.get(n, {}))
            env.update(cli)  # the --variable values win, as in gitlab-ci-local
            head = "set -eo pipefail\n"
            if trace:
                head += "exec 9>>%s\nBASH_XTRACEFD=9\nPS4='+${EPOCHREALTIME} '\nset -x\n" % os.path.abspath(
                    os.path.join(logs, name + ".trace"))
            main = head + "\n".join(j["before"] + j["script"]) + "\n"
            if trace:
                main += ": direct.py end of job\n"  # so the last command is charged too
            after = "set -eo pipefail\n" + "\n".join(j["after"]) + "\n"
            log = open(os.path.join(logs, name + ".log"), "w")
            cmd = "bash -c \"$1\"; rc=$?; bash -c \"$2\" || true; exit $rc"
            procs[name] = (subprocess.Popen(["bash", "-c", cmd, "job", main, after], cwd=d, env=env,
                                            stdout=log, stderr=subprocess.STDOUT), log)
        for name, (p, log) in list(procs.items()):
            if p.poll() is None:
                continue
            log.close()
            del procs[name]
            if p.returncode == 0:
                done.add(name)
                if jobs[name]["dotenv"]:
                    dotenv[name] = read_dotenv(os.path.join(builds, name, jobs[name]["dotenv"]))
            else:
                failed.add(name)
        time.sleep(0.01)
    print("%.2f" % (time.monotonic() - t0))
    if failed:
        sys.exit("failed job(s): " + " ".join(sorted(failed)))


def phase(cmd):
    """The phase a traced simple command belongs to (the first word after assignments)."""
    words = cmd.split()
    while words and re.match(r"^\w+=", words[0]):
        words = words[1:]
    if not words:
        return "other (shell builtins, assignments, function calls)"
    w = words[0]
    if w == "curl":
        return "curl (registry API)"
    if w == "skopeo":
        return "skopeo " + (words[1] if len(words) > 1 else "")
    if w == "tee" or words[:2] == ["buildah", "bud"]:  # `buildah bud ... | tee`: xtrace prints tee last
        return "buildah bud (and its tee)"
    if w == "buildah":
        return "buildah " + (words[1] if len(words) > 1 else "")
    if w in ("find", "sha256sum", "sort", "gp_key_files"):
        return "context hashing (find/sha256sum/sort)"
    if w == "git":
        return "git (rev-parse, status)"
    if w in ("mktemp", "rm", "mkdir", "cat", "cut", "sed", "head", "dirname", "tr", "readlink",
             "grep", "tail", "base64"):
        return "small utilities (mktemp, rm, mkdir, cut...)"
    return "other (shell builtins, assignments, function calls)"


def phases(logs):
    totals, jobs = {}, 0
    for f in sorted(os.listdir(logs)):
        if not f.endswith(".trace"):
            continue
        jobs += 1
        lines = []
        for l in open(os.path.join(logs, f), errors="replace"):
            m = re.match(r"^(\++)(\d+\.\d+) (.*)", l)
            if m:
                lines.append((float(m.group(2)), m.group(3)))
        for (t, cmd), (t2, _) in zip(lines, lines[1:]):
            k = phase(cmd)
            totals[k] = totals.get(k, 0.0) + (t2 - t)
        if lines:
            totals["(whole job shell)"] = totals.get("(whole job shell)", 0.0) + lines[-1][0] - lines[0][0]
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print("%s\t%.2f\t%.2f" % (k, v, v / max(jobs, 1)))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "run":
        run(args[0], args[1], args[2], args[3:])
    elif cmd == "phases":
        phases(args[0])
    else:
        sys.exit("unknown command " + cmd)
