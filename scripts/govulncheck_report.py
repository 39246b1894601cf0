#!/usr/bin/env python3
"""Summarises `govulncheck -format json` output (stdin) and fails on any
vulnerability the code reaches.

Usage: govulncheck_report.py EXCLUSIONS < govulncheck.json

A finding is reachable when its trace ends in a function (symbol level).
EXCLUSIONS lists findings the database gets wrong, one per line:

    ID MODULE FIXED-IN REASON...

A line drops the finding ID only for MODULE at FIXED-IN or later, so it
stops applying if the module is ever downgraded below the fix. A line that
matches nothing is reported as stale. Exit status: 0 when nothing
reachable remains, 1 otherwise.
"""

import json
import re
import sys


def semver(v):
    """A sortable key for v1.2.3, v1.2.3-pre and go-style 1.26.8."""
    m = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-(.*))?", v or "")
    if not m:
        return (0, 0, 0, 0, "")
    major, minor, patch, pre = m.groups()
    # A release sorts after any of its pre-releases.
    return (int(major), int(minor or 0), int(patch or 0), 0 if pre else 1, pre or "")


def read_messages(text):
    dec = json.JSONDecoder()
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return
        msg, i = dec.raw_decode(text, i)
        yield msg


def read_exclusions(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 3)
            if len(parts) < 4:
                sys.exit(f"{path}:{lineno}: want ID MODULE FIXED-IN REASON")
            out.append({"id": parts[0], "module": parts[1], "fixed": parts[2],
                        "reason": parts[3], "where": f"{path}:{lineno}", "used": False})
    return out


def frame_text(fr):
    pos = fr.get("position") or {}
    where = ""
    if pos.get("filename"):
        where = f"{pos['filename']}:{pos.get('line', 0)}: "
    fn = fr.get("function", "")
    if fr.get("receiver"):
        fn = f"{fr['receiver'].lstrip('*')}.{fn}"
    return f"{where}{fr.get('package', fr.get('module', ''))}.{fn}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exclusions = read_exclusions(sys.argv[1])
    summaries, levels, found = {}, {}, {}
    for msg in read_messages(sys.stdin.read()):
        if "osv" in msg and isinstance(msg["osv"], dict):
            summaries[msg["osv"]["id"]] = msg["osv"].get("summary", "").replace("\n", " ")
        f = msg.get("finding")
        if not f:
            continue
        trace = f.get("trace") or [{}]
        level = "symbol" if trace[0].get("function") else ("package" if trace[0].get("package") else "module")
        osv = f["osv"]
        if level == "symbol" and osv not in found:
            found[osv] = f
        order = {"module": 0, "package": 1, "symbol": 2}
        if order[level] > order.get(levels.get(osv), -1):
            levels[osv] = level

    reachable, excluded = [], []
    for osv, f in sorted(found.items()):
        vuln = f["trace"][0]
        ex = next((e for e in exclusions if e["id"] == osv and e["module"] == vuln.get("module")
                   and semver(vuln.get("version")) >= semver(e["fixed"])), None)
        if ex:
            ex["used"] = True
            excluded.append((osv, vuln, ex))
        else:
            reachable.append((osv, f))

    for osv, f in reachable:
        vuln = f["trace"][0]
        print(f"{osv}: {summaries.get(osv, '')}")
        print(f"    found in {vuln.get('module')}@{vuln.get('version')}, "
              f"fixed in {f.get('fixed_version') or 'N/A'}")
        # The trace runs from the vulnerable symbol back to mgvcore's code.
        if len(f["trace"]) > 1:
            print(f"    {frame_text(f['trace'][-1])}")
            print(f"      {'calls' if len(f['trace']) == 2 else 'eventually calls'} {frame_text(vuln)}")
    for osv, vuln, ex in excluded:
        print(f"excluded {osv} ({vuln.get('module')}@{vuln.get('version')}, {ex['where']}): {ex['reason']}")
    for e in exclusions:
        if not e["used"]:
            print(f"note: {e['where']}: {e['id']} matches nothing any more; remove the line")
    unreached = sum(1 for lv in levels.values() if lv != "symbol")
    print(f"govulncheck: {len(reachable)} reachable, {len(excluded)} excluded, "
          f"{unreached} in imported packages or required modules but not called")
    return 1 if reachable else 0


if __name__ == "__main__":
    sys.exit(main())
