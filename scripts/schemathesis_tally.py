"""Judge a schemathesis run by what each operation answered.

Usage: schemathesis_tally.py OPENAPI_JSON TALLY_JSON

TALLY_JSON is what scripts/schemathesis_hooks.py writes at exit. Prints, per
operation of the document, its calls, the 2xx, the client errors other than
401/403, the 401s, 403s and 5xx, and the throwaway admins it used; exits
non-zero when a documented operation answered nothing but 401/403 (or was
never called), so that a run with broken credentials cannot pass.
"""
import json
import sys

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def main(spec_path: str, tally_path: str) -> int:
    spec = json.load(open(spec_path))
    try:
        tally = json.load(open(tally_path))
    except (OSError, ValueError) as e:
        sys.exit(f"[schemathesis] ERROR: no tally from the hooks: {e}")
    ops = [f"{m.upper()} {p}" for p, item in spec["paths"].items()
           for m in item if m in METHODS]
    seen = tally["operations"]
    # schemathesis does not fuzz the document it runs from; fetching it is the
    # run's first request, and the load fails the run if it does not answer.
    doc = "GET /openapi.json"
    if doc in ops and doc not in seen:
        ops.remove(doc)
        print(f"{doc}: loaded as the run's document, not fuzzed")
    print(f"{'operation':<52} {'calls':>6} {'2xx':>5} {'4xx*':>5} {'401':>5} {'403':>5} {'5xx':>4} {'admins':>6}")
    bad = []
    for op in sorted(ops, key=lambda o: (o.split(" ", 1)[1], o)):
        st = {int(k): v for k, v in seen.get(op, {}).items()}
        n = sum(st.values())
        ok2 = sum(v for k, v in st.items() if 200 <= k < 300)
        ok4 = sum(v for k, v in st.items() if 400 <= k < 500 and k not in (401, 403))
        e5 = sum(v for k, v in st.items() if k >= 500)
        print(f"{op:<52} {n:>6} {ok2:>5} {ok4:>5} {st.get(401, 0):>5} {st.get(403, 0):>5} {e5:>4} {tally['admins_minted'].get(op, 0):>6}")
        if ok2 + ok4 == 0:
            bad.append(op)
    print("4xx*: client errors other than 401 and 403; admins: throwaway admins the operation used")
    for op in sorted(set(seen) - set(ops)):
        print(f"[schemathesis] note: answers counted for {op}, which the document does not list")
    if bad:
        sys.exit("[schemathesis] ERROR: operations answered only 401/403 (or never called): " + ", ".join(bad))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
