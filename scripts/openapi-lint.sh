#!/usr/bin/env bash
# Lints api/openapi.yaml with the two linters its readers use: Redocly
# (`@redocly/cli lint`, its recommended rules) and Spectral with the
# `spectral:oas` ruleset. Both are pinned below and installed with npm into
# $MGV_CACHE_DIR/npm-openapi-lint (default ~/.cache/mgvcore) when missing or
# at another version. Exits non-zero when either reports an error; warnings
# are printed and do not fail.
#
# Usage:  scripts/openapi-lint.sh [document]     (default api/openapi.yaml; needs node and npm)
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}"
PREFIX="$CACHE_DIR/npm-openapi-lint"
REDOCLY_VERSION=2.77.0
SPECTRAL_VERSION=6.16.3
DOC="${1:-$ROOT_DIR/api/openapi.yaml}"

log() { printf '[openapi-lint] %s\n' "$*" >&2; }
die() { printf '[openapi-lint] ERROR: %s\n' "$*" >&2; exit 1; }

command -v npm >/dev/null || die "npm is required"
[ -f "$DOC" ] || die "no document $DOC"

installed() {
	node -e 'try { process.stdout.write(require(process.argv[1] + "/package.json").version) } catch (e) {}' \
		"$PREFIX/node_modules/$1" 2>/dev/null || true
}
if [ "$(installed @redocly/cli)" != "$REDOCLY_VERSION" ] ||
	[ "$(installed @stoplight/spectral-cli)" != "$SPECTRAL_VERSION" ]; then
	log "installing @redocly/cli $REDOCLY_VERSION and @stoplight/spectral-cli $SPECTRAL_VERSION into $PREFIX"
	mkdir -p "$PREFIX"
	[ -f "$PREFIX/package.json" ] || echo '{"private": true}' >"$PREFIX/package.json"
	npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error --save-exact \
		"@redocly/cli@$REDOCLY_VERSION" "@stoplight/spectral-cli@$SPECTRAL_VERSION" >&2
	[ "$(installed @redocly/cli)" = "$REDOCLY_VERSION" ] || die "@redocly/cli $REDOCLY_VERSION did not install"
	[ "$(installed @stoplight/spectral-cli)" = "$SPECTRAL_VERSION" ] || die "spectral-cli $SPECTRAL_VERSION did not install"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mgv-openapi-lint.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# Spectral reads its ruleset from a file; this one is spectral:oas as shipped.
echo 'extends: ["spectral:oas"]' >"$work/.spectral.yaml"

rc=0
log "redocly lint ${DOC#"$ROOT_DIR"/}"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	"$PREFIX/node_modules/.bin/redocly" lint --format=stylish "$DOC" || rc=1
log "spectral lint --ruleset spectral:oas ${DOC#"$ROOT_DIR"/}"
"$PREFIX/node_modules/.bin/spectral" lint --ruleset "$work/.spectral.yaml" --fail-severity=error "$DOC" || rc=1
[ "$rc" -eq 0 ] && log "no errors"
exit "$rc"
