#!/usr/bin/env bash
# Installs Debian's chromium, which the end-to-end test of the API reference
# (internal/e2e/docs_test.go) drives headless. Idempotent: does nothing when
# /usr/bin/chromium exists. Run by `make e2e`; needs root (or sudo) to install.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends chromium; then
	# The package lists may be missing or stale: refresh them and retry once.
	$SUDO apt-get update
	$SUDO apt-get install -y --no-install-recommends chromium
fi
/usr/bin/chromium --version
