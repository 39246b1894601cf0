#!/usr/bin/env bash
# Re-fetches the Swagger UI assets vendored in api/docs/ (embedded by package
# api and served at /docs) from the npm package swagger-ui-dist at the pinned
# version below, so the committed files can be reproduced and upgraded.
#
# Usage: scripts/swagger-ui.sh            (needs npm and tar)
#        SWAGGER_UI_VERSION=5.x.y scripts/swagger-ui.sh   to upgrade; then
#        update the pin here and check /docs with the e2e test (DocsTest).
#
# Only the files /docs serves and the licence texts are kept; api/docs/index.html
# is ours and is not touched.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${SWAGGER_UI_VERSION:-5.35.0}"
DEST="$ROOT_DIR/api/docs"
FILES=(
	swagger-ui.css
	swagger-ui-bundle.js
	swagger-ui-bundle.js.LICENSE.txt
	favicon-32x32.png
	LICENSE
	NOTICE
)

command -v npm >/dev/null || { echo "swagger-ui.sh: npm is required" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tar -xzf "$work/swagger-ui-dist-$VERSION.tgz" -C "$work"
got="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$work/package/package.json" | head -1)"
if [ "$got" != "$VERSION" ]; then
	echo "swagger-ui.sh: asked for $VERSION, the package is $got" >&2
	exit 1
fi
mkdir -p "$DEST"
for f in "${FILES[@]}"; do
	install -m 0644 "$work/package/$f" "$DEST/$f"
done
echo "$VERSION" > "$DEST/VERSION"
echo "swagger-ui-dist $VERSION -> ${DEST#"$ROOT_DIR"/}"
