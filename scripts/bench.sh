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

# The peer servers measured beside P1s and P2s (tools/peers, a module of its
# own), built once per change of their sources, as scripts/testenv.sh
# builds its tools.
peers_bin="${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}/bin/peers"
peers_want=$(cat tools/peers/go.mod tools/peers/go.sum tools/peers/*.go api/proto/mgv/open/v1/*.go | sha256sum | cut -d' ' -f1)
if [ ! -x "$peers_bin" ] || [ "$(cat "$peers_bin.sum" 2>/dev/null)" != "$peers_want" ]; then
  mkdir -p "$(dirname "$peers_bin")"
  echo "peers: building tools/peers (takes minutes the first time)" >&2
  (cd tools/peers && go build -mod=readonly -trimpath -ldflags="-s -w" -o "$peers_bin.tmp.$$" .)
  mv -f "$peers_bin.tmp.$$" "$peers_bin"
  echo "$peers_want" >"$peers_bin.sum"
fi
export MGV_BENCH_PEERS="$peers_bin"

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
# -p 1: one program at a time. Otherwise go test links the other packages'
# test binaries while the first ones measure, on the same two cores.
MGV_BENCH_OUT="$rows" go test -p 1 -tags e2e,bench -run "$pattern" -count=1 -timeout 60m -v ./internal/... 2>&1 |
  grep -E '^(=== RUN|--- |\s+[a-z0-9_]+_test.go|ok|FAIL|PASS)' || true

python3 - "$rows" docs/BENCHMARKS.md <<'PY'
import json, os, platform, re, subprocess, sys, datetime
rows_file, out = sys.argv[1], sys.argv[2]
rows = {}
for line in open(rows_file):
    r = json.loads(line)
    rows[r["id"]] = r
# Keep rows of earlier runs that this run did not measure.
old = {}
# The closing notes (from the first "## " heading on) are kept as written.
notes = ""
if os.path.exists(out):
    text = open(out).read()
    for line in text.splitlines():
        if line.startswith("| P") or line.startswith("| R"):
            old[line.split("|")[1].strip()] = line
    at = text.find("\n## ")
    if at >= 0:
        notes = text[at:]
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
    # P1, P1s, P1s-kratos, P2, …: by letter, number, then the rest.
    def order(i):
        m = re.match(r"([A-Z])(\d+)(.*)", i)
        return (m[1], int(m[2]), m[3]) if m else (i, 0, "")
    ids = sorted(set(rows) | set(old), key=order)
    for i in ids:
        if i in rows:
            r = rows[i]
            f.write(f"| {i} | {r['what']} | {r['target']} | {r['measured']} | {r['baseline']} | {r['result']} | {'yes' if r['pass'] else 'NO'} | `{r['command']}` |\n")
        else:
            f.write(old[i] + "\n")
    f.write(notes)
print(f"wrote {out}: {', '.join(sorted(rows))}")
PY
