#!/usr/bin/env bash
# Runs the benchmarks of the QUALITY bars side by side with their bare
# baselines and rewrites docs/BENCHMARKS.md. Called by `make bench`, which
# starts the test dependencies first.
#
#   scripts/bench.sh [REGEXP]   only the benchmark tests matching REGEXP
#
# P10's streaming half (TestBenchP10EventStream) runs 30 s of transcripts at
# 200/s; MGV_BENCH_P10_SECONDS=3 scripts/bench.sh P10 is a quick check.
set -euo pipefail
cd "$(dirname "$0")/.."

pattern="${1:-TestBench}"
if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
MGV_BENCH_OUT="$rows" go test -tags e2e,bench -run "$pattern" -count=1 -timeout 60m -v ./internal/... 2>&1 |
  grep -E '^(=== RUN|--- |\s+[a-z0-9_]+_test.go|ok|FAIL|PASS)' || true

python3 - "$rows" docs/BENCHMARKS.md <<'PY'
import json, os, platform, subprocess, sys, datetime
rows_file, out = sys.argv[1], sys.argv[2]
rows = {}
for line in open(rows_file):
    r = json.loads(line)
    rows[r["id"]] = r
# Keep rows of earlier runs that this run did not measure.
old = {}
if os.path.exists(out):
    for line in open(out):
        if line.startswith("| P") or line.startswith("| R"):
            old[line.split("|")[1].strip()] = line.rstrip("\n")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem = next((l.split(":", 1)[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
gov = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
with open(out, "w") as f:
    f.write("# Benchmarks\n\n")
    f.write("Each figure is measured side by side with its bare baseline in one run of `make bench`\n")
    f.write("(`scripts/bench.sh`, which runs the `TestBench*` tests under the `bench` build tag), on\n")
    f.write("this machine; absolute numbers are context, the ratio is the result. Rows not measured in\n")
    f.write("the latest run keep their earlier figures.\n\n")
    f.write(f"Machine: {os.cpu_count()} cores ({cpu}), {mem} memory; {gov}. Last run: {now}.\n\n")
    f.write("| id | what | target | measured | bare baseline | result | pass | command |\n")
    f.write("|---|---|---|---|---|---|---|---|\n")
    ids = sorted(set(rows) | set(old), key=lambda i: (i[0], int(i[1:])))
    for i in ids:
        if i in rows:
            r = rows[i]
            f.write(f"| {i} | {r['what']} | {r['target']} | {r['measured']} | {r['baseline']} | {r['result']} | {'yes' if r['pass'] else 'NO'} | `{r['command']}` |\n")
        else:
            f.write(old[i] + "\n")
print(f"wrote {out}: {', '.join(sorted(rows))}")
PY
