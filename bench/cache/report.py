#!/usr/bin/env python3
"""Helpers for bench/cache/run.sh (no third-party modules).

  report.py steps LOG...             -> "<executed> <cached>" RUN steps in buildah bud output
  report.py traffic REGLOG FROM_LINE -> "<MB pulled> <MB pushed>" in the registry access log after FROM_LINE
  report.py stamp                    -> copies stdin to stdout, each line prefixed by a monotonic time
  report.py steptimes LOG            -> "<seconds>" of each executed RUN step in a stamped log, one a line
  report.py table RESULTS.tsv LOGDIR -> the markdown table, with the targets checked for gen-pipeline
  report.py direct DIRECT.tsv PHASES_GP PHASES_KEYED -> the runner-free section (bench/cache/direct.py)
"""
import base64, os, re, sys, time, urllib.parse

STEP = re.compile(r"STEP \d+/\d+: (\w+)")
CACHED = ("Using cache", "Cache pulled from remote")


def runs(lines):
    """(executed, text) for each RUN step: cached if buildah says so before the next STEP/COMMIT."""
    cur = None
    for l in lines:
        m = STEP.search(l)
        if m or "COMMIT" in l:
            if cur is not None:
                yield cur
            cur = [True, l] if (m and m.group(1) == "RUN") else None
        elif cur is not None and any(c in l for c in CACHED):
            cur[0] = False
    if cur is not None:
        yield cur


def steps(paths):
    ex = ca = 0
    for p in paths:
        for executed, _ in runs(open(p, errors="replace").read().splitlines()):
            ex, ca = ex + executed, ca + (not executed)
    print(ex, ca)


def upload_offset(uri):
    q = urllib.parse.urlparse(uri).query
    st = urllib.parse.parse_qs(q).get("_state", [""])[0]
    try:
        raw = base64.urlsafe_b64decode(st + "=" * (-len(st) % 4))
    except Exception:
        return 0
    m = re.search(rb'"Offset":(\d+)', raw)
    return int(m.group(1)) if m else 0


def traffic(log, start):
    """Same rules as tests/it/e2e_support.rs::traffic_from_log: GET blob 200 bytes, PUT upload Offset."""
    pulled = pushed = 0
    for i, l in enumerate(open(log, errors="replace")):
        if i < start or not l.startswith("127.0.0.1 - "):
            continue
        parts = l.split('"')
        if len(parts) < 3:
            continue
        req = parts[1].split()
        nums = parts[2].split()
        if len(req) < 2 or len(nums) < 2:
            continue
        method, uri, status = req[0], req[1], nums[0]
        if method == "GET" and status == "200" and "/blobs/sha256:" in uri:
            pulled += int(nums[1]) if nums[1].isdigit() else 0
        elif method == "PUT" and status == "201" and "/blobs/uploads/" in uri:
            pushed += upload_offset(uri)
    print("%.2f %.2f" % (pulled / 1e6, pushed / 1e6))


def requests(log, start):
    """Registry requests (access-log lines) since line `start`."""
    n = 0
    for i, l in enumerate(open(log, errors="replace")):
        if i >= start and l.startswith("127.0.0.1 - "):
            n += 1
    print(n)


def stamp():
    for l in sys.stdin:
        sys.stdout.write("%.3f %s" % (time.monotonic(), l))
        sys.stdout.flush()


def steptimes(path):
    lines = open(path, errors="replace").read().splitlines()
    t = [float(l.split(" ", 1)[0]) for l in lines]
    for i, l in enumerate(lines):
        m = STEP.search(l)
        if m and m.group(1) == "RUN" and i + 1 < len(lines) and not any(c in lines[i + 1] for c in CACHED):
            # the step ends at the next STEP/COMMIT line
            for j in range(i + 1, len(lines)):
                if STEP.search(lines[j]) or "COMMIT" in lines[j]:
                    print("%.2f %s" % (t[j] - t[i], l.split(": RUN ", 1)[-1][:40]))
                    break


EXPECTED_RUNS = {"cold": 3, "unchanged": 0, "src": 2, "deps": 3, "branch": 2}


def targets(rows, logs):
    """Fills the last column of gen-pipeline rows: issue 5's targets, met or MISSED."""
    overhead = next(float(r[2]) for r in rows if r[0] == "unchanged" and r[1] == "gen-pipeline")
    for r in rows:
        if r[1] == "keyed":
            sc, wall = r[0], float(r[2])
            if sc == "unchanged":
                bound = 0.1 * overhead
                r[8] = "wall <= 10%% of gen-pipeline's unchanged run (%.1f): %s; %s" % (
                    bound, "met" if wall <= bound else "MISSED", r[8])
            continue
        if r[1] != "gen-pipeline":
            continue
        sc, wall, ex, ideal = r[0], float(r[2]), int(r[3]), float(r[7])
        notes = []
        ok = ex == EXPECTED_RUNS[sc]
        notes.append("%s RUN executed (want %d): %s" % (ex, EXPECTED_RUNS[sc], "met" if ok else "MISSED"))
        if sc == "branch":
            deps = open("%s/branch-gen-pipeline/deps.log" % logs, errors="replace").read()
            ran = [e for e, _ in runs(deps.splitlines())]
            from_main = "/cache/deps.main:" in deps and ran == [False]
            notes.append("deps from main's cache: %s" % ("met" if from_main else "MISSED"))
        bound = 1.5 * ideal + overhead
        notes.append("wall <= 1.5 x ideal + %.1f = %.1f: %s" % (overhead, bound, "met" if wall <= bound else "MISSED"))
        r[8] = "; ".join(notes + ([r[8]] if r[8] else []))
    return rows


def table(path, logs):
    rows = [(l.rstrip("\n").split("\t") + [""])[:9] for l in open(path) if l.strip()]
    rows = targets(rows, logs)
    head = ["scenario", "strategy", "wall s", "RUN executed", "RUN cached", "MB pulled", "MB pushed",
            "ideal s", "targets (gen-pipeline) / notes"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def direct(path, phase_gp, phase_keyed):
    """The runner-free section: per strategy the walls of the counted runs, median and min, the builds,
    skipped jobs and registry requests (per skipped job), keyed's ratio to gen-pipeline, the phases."""
    rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    stats = {}
    print("| strategy | runs (wall s, in run order) | median s | min s | builds | skipped jobs | registry requests | per skipped job | RUN executed / cached |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in ("gen-pipeline", "keyed"):
        runs_ = [r for r in rows if r[0] == s and r[1] != "trace"]
        ok = [r for r in runs_ if r[2] != "FAILED"]
        walls = sorted(float(r[2]) for r in ok)
        if not walls:
            print("| %s | all FAILED | | | | | | | |" % s)
            continue
        n = len(walls)
        med = walls[n // 2] if n % 2 else (walls[n // 2 - 1] + walls[n // 2]) / 2
        stats[s] = (med, walls[0])
        uniq = lambda i: "/".join(sorted(set(r[i] for r in ok)))
        per = "/".join(sorted(set(str(int(r[5]) // int(r[4])) for r in ok if r[4] not in ("", "0")))) or "-"
        print("| %s | %s | %.2f | %.2f | %s | %s | %s | %s | %s / %s |" % (
            s, ", ".join(r[2] for r in runs_), med, walls[0], uniq(3), uniq(4), uniq(5), per, uniq(6), uniq(7)))
    print()
    if len(stats) == 2:
        (gm, gmin), (km, kmin) = stats["gen-pipeline"], stats["keyed"]
        verdict = "met" if km <= 0.1 * gm else "MISSED"
        print("keyed / gen-pipeline, runner-free: median %.2f / %.2f = %.0f%%, min %.2f / %.2f = %.0f%%; "
              "bound 10%% of gen-pipeline's median = %.2f s: **%s**." % (
                  km, gm, 100 * km / gm, kmin, gmin, 100 * kmin / gmin, 0.1 * gm, verdict))
    print()
    print("Where a job's shell spends its time (the traced run, not counted above; seconds, summed over the"
          " three jobs and per job; a traced command is charged until the next traced line):")
    print()
    print("| phase | keyed total s | keyed per job s | gen-pipeline total s | gen-pipeline per job s |")
    print("|---|---|---|---|---|")
    read = lambda p: {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(p) if l.strip()} \
        if os.path.exists(p) else {}
    pk, pg = read(phase_keyed), read(phase_gp)
    for k in sorted(set(pk) | set(pg), key=lambda k: -float(pk.get(k, ["0"])[0])):
        a, b = pk.get(k, ["-", "-"]), pg.get(k, ["-", "-"])
        print("| %s | %s | %s | %s | %s |" % (k, a[0], a[1], b[0], b[1]))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "steps":
        steps(args)
    elif cmd == "traffic":
        traffic(args[0], int(args[1]))
    elif cmd == "requests":
        requests(args[0], int(args[1]))
    elif cmd == "stamp":
        stamp()
    elif cmd == "steptimes":
        steptimes(args[0])
    elif cmd == "direct":
        direct(args[0], args[1], args[2])
    elif cmd == "table":
        table(args[0], args[1])
    else:
        sys.exit("unknown command " + cmd)
