#!/usr/bin/python3
"""check_recipes.py MCOMPRESS WORKDIR: runs every recipe of tools/recipes without its engine.

Slurm array variables, a Kubernetes Indexed Job's index and a GitHub Actions matrix value are set
by hand, one process per shard; GNU parallel is replaced by a stand-in when it is not installed.
Each recipe's shard reports must hold exactly the models of a single unsharded run, with the same
outputs and cache keys, and its merge must exit 0 with a JUnit file and a Markdown summary.
Prints one line per check; exits 1 on the first failure.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = os.path.join(ROOT, "tools", "recipes")
STABLE_DROP = ("time_s", "peak_rss_bytes", "shard", "path")  # path: where the runner saw the zoo


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(argv, env=None, expect=0, **kw):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(argv, env=e, capture_output=True, text=True, **kw)
    if expect is not None and r.returncode != expect:
        fail("%s exited %d, expected %d\n%s%s" % (" ".join(argv), r.returncode, expect, r.stdout, r.stderr))
    return r


def stable(paths):
    rows = {}
    for p in paths:
        for line in open(p):
            j = json.loads(line)
            if j["id"] in rows:
                fail("%s is in two shard reports" % j["id"])
            for k in STABLE_DROP:
                j.pop(k, None)
            rows[j["id"]] = j
    return rows


WORK = None


def same_as_single(results, single, what):
    got = stable(sorted(glob.glob(os.path.join(results, "report-*.jsonl"))))
    if got != single:
        fail("%s: the shards' union differs from the single run: %s vs %s" % (what, sorted(got), sorted(single)))
    for id_ in single:
        a = open(os.path.join(results, "models", id_, "model.onnx"), "rb").read()
        if a != open(os.path.join(WORK, "single", "models", id_, "model.onnx"), "rb").read():
            fail("%s: %s differs from the single run's output" % (what, id_))
    print("ok: %s: %d models over the shards = the single run, byte for byte" % (what, len(got)))


def merged(mc, results, zoo, what):
    run([mc, "batch", "merge"] + sorted(glob.glob(os.path.join(results, "report-*.jsonl"))) +
        ["--manifest", zoo, "--junit", os.path.join(results, "junit.xml"),
         "--summary-md", os.path.join(results, "summary.md")])
    if "<testsuite" not in open(os.path.join(results, "junit.xml")).read():
        fail(what + ": no JUnit testsuite")
    print("ok: %s: merge exit 0, junit.xml and summary.md written" % what)


def main():
    global WORK
    mc, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    WORK = work
    zoo = os.path.join(work, "zoo")
    run(["/usr/bin/python3", os.path.join(ROOT, "tests", "cli", "make_zoo.py"), zoo, "--count", "5"])
    manifest = os.path.join(zoo, "manifest.jsonl")
    with open(manifest, "w") as f:
        for k in range(5):
            f.write(json.dumps({"id": "m%d" % k, "path": "mlp_%03d.onnx" % k}) + "\n")
    run([mc, "batch", manifest, "--out", os.path.join(work, "single"), "-q", "--", "quantize", "--bits", "8"])
    single = stable([os.path.join(work, "single", "report.jsonl")])
    base = {"MCOMPRESS": mc, "ZOO": manifest}
    for k in [k for k in os.environ if k.startswith(("SLURM_", "JOB_COMPLETION", "MCOMPRESS_SHARD"))]:
        del os.environ[k]

    # Slurm: the array script per task with the variables Slurm sets, for 0-3 and for 10-16:2.
    for name, ids, lo, hi, step in (("slurm 0-3", [0, 1, 2, 3], 0, 3, 1), ("slurm 10-16:2", [10, 12, 14, 16], 10, 16, 2)):
        results = os.path.join(work, name.replace(" ", "_").replace(":", "_"))
        for i in ids:
            env = dict(base, RESULTS=results, SRUN="", MCOMPRESS_ARGS="quantize --bits 8",
                       SLURM_ARRAY_TASK_ID=str(i), SLURM_ARRAY_TASK_MIN=str(lo), SLURM_ARRAY_TASK_MAX=str(hi),
                       SLURM_ARRAY_TASK_STEP=str(step), SLURM_ARRAY_TASK_COUNT=str(len(ids)))
            run(["bash", os.path.join(RECIPES, "slurm", "zoo-array.sbatch")], env)
        same_as_single(results, single, name)
        run(["bash", os.path.join(RECIPES, "slurm", "merge.sbatch")], dict(base, RESULTS=results))
        print("ok: %s: merge.sbatch exit 0" % name)
    env = dict(base, RESULTS=os.path.join(work, "slurm_list"), SRUN="", SLURM_ARRAY_TASK_ID="7",
               SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_MAX="7", SLURM_ARRAY_TASK_STEP="1", SLURM_ARRAY_TASK_COUNT="3")
    r = run(["bash", os.path.join(RECIPES, "slurm", "zoo-array.sbatch")], env, expect=1)
    if "list array" not in r.stderr:
        fail("a list array is refused without saying why: " + r.stderr)
    print("ok: slurm --array=1,2,7 refused with exit 1")
    # submit.sh with a stand-in sbatch that records its arguments.
    fake = os.path.join(work, "fake_sbatch")
    with open(fake, "w") as f:
        f.write('#!/bin/bash\necho "$*" >> "%s/sbatch.log"\necho 4242\n' % work)
    os.chmod(fake, 0o755)
    run(["bash", os.path.join(RECIPES, "slurm", "submit.sh"), "4", "2"], dict(base, RESULTS=work, SBATCH=fake))
    calls = open(os.path.join(work, "sbatch.log")).read().splitlines()
    if "--array=0-3%2" not in calls[0] or "--dependency=afterany:4242" not in calls[1]:
        fail("submit.sh: " + repr(calls))
    print("ok: submit.sh: array 0-3%2, merge after afterany:4242")

    # Kubernetes: the Job's invariants, then its container args once per completion index.
    job = yaml.safe_load(open(os.path.join(RECIPES, "kubernetes", "indexed-job.yaml")))
    spec = job["spec"]
    c = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    if spec["completionMode"] != "Indexed" or int(env["MCOMPRESS_SHARD_COUNT"]) != spec["completions"]:
        fail("kubernetes: MCOMPRESS_SHARD_COUNT must equal completions of an Indexed Job")
    rule = spec["podFailurePolicy"]["rules"][0]
    if rule["action"] != "FailIndex" or rule["onExitCodes"]["values"] != [1, 2, 3, 4] or \
            rule["onExitCodes"]["containerName"] != c["name"]:
        fail("kubernetes: exit codes 1-4 must fail the index")
    args = c["args"]
    if args[args.index("--shard") + 1] != "auto":
        fail("kubernetes: the container must run --shard auto")
    results = os.path.join(work, "k8s")
    args = [{"/zoo/manifest.jsonl": manifest, "/results": results}.get(a, a) for a in args]
    for i in range(spec["completions"]):
        run([mc] + args, {"JOB_COMPLETION_INDEX": str(i), "MCOMPRESS_SHARD_COUNT": env["MCOMPRESS_SHARD_COUNT"]})
    same_as_single(results, single, "kubernetes indexed job")
    merged(mc, results, manifest, "kubernetes")

    # GitHub Actions: the matrix must be 0..N-1 for --shard-count N; each step run as written.
    wf = yaml.safe_load(open(os.path.join(RECIPES, "github-actions", "model-zoo.yml")))
    shard_job = wf["jobs"]["shard"]
    shards = shard_job["strategy"]["matrix"]["shard"]
    step = [s for s in shard_job["steps"] if "batch " in s.get("run", "")][0]["run"]
    count = int(re.search(r"--shard-count (\d+)", step).group(1))
    if shards != list(range(count)) or shard_job["strategy"]["fail-fast"] is not False:
        fail("github actions: matrix %s for --shard-count %d, fail-fast must be false" % (shards, count))
    gh = os.path.join(work, "gh")
    os.makedirs(gh)
    os.symlink(zoo, os.path.join(gh, "zoo"))
    for i in shards:
        cmd = step.replace("${{ matrix.shard }}", str(i)).replace("build/mcompress", mc)
        run(["bash", "-c", cmd], cwd=gh)
    same_as_single(os.path.join(gh, "results"), single, "github actions matrix")
    merge_step = [s for s in wf["jobs"]["merge"]["steps"] if "batch merge" in s.get("run", "")][0]["run"]
    os.makedirs(os.path.join(gh, "reports"))
    for p in glob.glob(os.path.join(gh, "results", "report-*.jsonl")):
        shutil.copy(p, os.path.join(gh, "reports"))
    run(["bash", "-c", merge_step.replace("build/mcompress", mc)], {"GITHUB_STEP_SUMMARY": os.path.join(gh, "summary.md")},
        cwd=gh)
    if "| model |" not in open(os.path.join(gh, "summary.md")).read():
        fail("github actions: no summary table")
    print("ok: github actions: merge wrote the step summary and junit.xml")

    # GNU parallel (or a stand-in: -j N, --joblog F, {} replaced by each input line).
    results = os.path.join(work, "parallel")
    par = shutil.which("parallel")
    if not par:
        par = os.path.join(work, "parallel_standin")
        with open(par, "w") as f:
            f.write('#!/bin/bash\nj=1; cmd=()\nwhile [ $# -gt 0 ]; do case "$1" in -j) j=$2; shift 2;; '
                    '--joblog) shift 2;; *) cmd+=("$1"); shift;; esac; done\n'
                    'while read -r x; do echo "$x"; done | xargs -P "$j" -I{} "${cmd[@]}"\n')
        os.chmod(par, 0o755)
    run(["bash", os.path.join(RECIPES, "gnu-parallel", "zoo.sh"), "3"],
        dict(base, RESULTS=results, PARALLEL=par, MCOMPRESS_ARGS="quantize --bits 8"))
    same_as_single(results, single, "gnu parallel" + ("" if shutil.which("parallel") else " (stand-in)"))
    print("all recipes ok")


if __name__ == "__main__":
    main()
