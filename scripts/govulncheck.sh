#!/usr/bin/env bash
# Runs the pinned govulncheck against a local copy of the Go vulnerability
# database (scripts/vulndb.sh) and fails on any vulnerability the code
# reaches, except those scripts/govulncheck-exclusions.txt shows the
# database to be wrong about.
#
# Usage: GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@VERSION VULNDB_VERSION=VERSION \
#          scripts/govulncheck.sh [PATTERN...]      (default ./...)
# The Makefile's lint target sets both versions.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${GOVULNCHECK:?set GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@VERSION}"
: "${VULNDB_VERSION:?set VULNDB_VERSION to a version of golang.org/x/vulndb}"
[ $# -gt 0 ] || set -- ./...

tool=$(scripts/gotool.sh "$GOVULNCHECK")
db=$(scripts/vulndb.sh "$VULNDB_VERSION")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "govulncheck $(go env GOVERSION), database golang.org/x/vulndb@$VULNDB_VERSION: $*"
"$tool" -db "file://$db" -format json "$@" >"$out"
python3 scripts/govulncheck_report.py scripts/govulncheck-exclusions.txt <"$out"
