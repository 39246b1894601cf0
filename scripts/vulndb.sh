#!/usr/bin/env bash
# Builds a local copy of the Go vulnerability database from a pinned version
# of the golang.org/x/vulndb module and prints its directory, for
# `govulncheck -db file://DIR`. Nothing but the Go module proxy is needed.
#
# Usage: scripts/vulndb.sh VERSION
#   e.g. scripts/vulndb.sh v0.0.0-20261105234957-e22db6528018
#
# The module holds every report as OSV JSON in data/osv; its own
# cmd/indexdb writes them as a v1 database (index/db.json, modules.json,
# vulns.json and ID/*.json, each with a .gz copy), the layout govulncheck
# reads. The database is kept in ${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}/vulndb/VERSION
# and built again only when the pinned version changes. Progress goes to
# stderr; stdout is the directory only.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 VERSION" >&2; exit 2; }
version=$1
module=golang.org/x/vulndb

CACHE_DIR="${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}"
db="$CACHE_DIR/vulndb/$version"

if [ ! -f "$db/index/db.json" ]; then
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  mkdir -p "$CACHE_DIR/vulndb"
  indexdb=$("$here/gotool.sh" "$module/cmd/indexdb@$version")
  # Downloaded from outside the module so that its go.sum stays as it is.
  src=$(cd "$CACHE_DIR" && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "[vulndb] $module@$version has no data/osv" >&2; exit 1; }
  tmp=$(mktemp -d "$CACHE_DIR/vulndb/.$version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "[vulndb] indexing $(find "$src/data/osv" -name '*.json' | wc -l) reports of $module@$version" >&2
  "$indexdb" -vulns "$src/data/osv" -out "$tmp" >&2
  [ -f "$tmp/index/db.json" ] || { echo "[vulndb] indexdb wrote no index" >&2; exit 1; }
  chmod 755 "$tmp"
  # Another run may have finished the same database meanwhile: keep either.
  mv -T "$tmp" "$db" 2>/dev/null || [ -f "$db/index/db.json" ]
  echo "[vulndb] database in $db" >&2
fi
echo "$db"
