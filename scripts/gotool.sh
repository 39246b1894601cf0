#!/usr/bin/env bash
# Builds a pinned Go tool once and prints the path of its binary.
#
# Usage: scripts/gotool.sh PACKAGE@VERSION
#   e.g. scripts/gotool.sh github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
#
# The binary is kept in ${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}/tools/NAME-VERSION/,
# so a tool is built again only when its pinned version changes. Progress
# goes to stderr; stdout is the path only.
set -euo pipefail

[ $# -eq 1 ] && [[ $1 == *@* ]] || { echo "usage: $0 PACKAGE@VERSION" >&2; exit 2; }
pkg=${1%@*}
version=${1##*@}
name=${pkg##*/}
# A package path ending in a major version (…/v2) names the tool one up.
if [[ $name =~ ^v[0-9]+$ ]]; then
  name=${pkg%/*}
  name=${name##*/}
fi

CACHE_DIR="${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}"
dir="$CACHE_DIR/tools/$name-$version"
bin="$dir/$name"

if [ ! -x "$bin" ]; then
  mkdir -p "$CACHE_DIR/tools"
  tmp=$(mktemp -d "$CACHE_DIR/tools/.$name-$version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "[gotool] building $pkg@$version (once; cached in $dir)" >&2
  t0=$SECONDS
  GOBIN="$tmp" go install "$pkg@$version" >&2
  # Another run may have finished the same build meanwhile: keep either.
  mv -T "$tmp" "$dir" 2>/dev/null || [ -x "$bin" ]
  echo "[gotool] built $name $version in $((SECONDS - t0))s" >&2
fi
echo "$bin"
