#!/usr/bin/env bash
# Bounded schemathesis run against /openapi.json of a freshly built mgvcore.
#
# Builds the binary, starts it on free loopback ports with a copy of
# config/config_test.toml, a fresh MariaDB database and the embedded search
# engine, seeds the demo tenant, logs in as its admin and runs schemathesis
# (pinned in scripts/requirements-schemathesis.txt, installed into its own
# venv) with the hooks of scripts/schemathesis_hooks.py, which give every
# operation valid admin credentials. Prints per operation what it answered.
# Exits non-zero on any failure, and when a documented operation answered
# nothing but 401/403; always stops the binary and drops the database.
#
# Usage:  scripts/schemathesis.sh            (after `eval "$(scripts/testenv.sh env)"`)
#
# Environment:
#   MGV_TEST_MYSQL_ADMIN_DSN  Go DSN of a MariaDB account allowed to create and
#                             drop databases (default: from scripts/testenv.sh env)
#   MGV_CACHE_DIR             cache root (default $HOME/.cache/mgvcore); the venv
#                             is venv-schemathesis/ under it
#   ST_MAX_EXAMPLES           test cases per operation and phase (default 50; the whole
#                             run takes about 2.5 min on 2 cores)
#   ST_SEED                   hypothesis seed (default: random, printed by schemathesis)
#   ST_EXTRA_ARGS             more `st run` arguments, word-split
#   ST_ARTIFACTS              a directory to keep the service log, the per-operation
#                             tally and schemathesis' report in (default: none kept)
#   PYTHON                    interpreter that creates the venv (default python3)
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}"
VENV_DIR="$CACHE_DIR/venv-schemathesis"
REQS="$ROOT_DIR/scripts/requirements-schemathesis.txt"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
CHECKS=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance
PASSWORD="schemathesis-demo-pass"
ADMIN=admin@demo.mgv

log() { printf '[schemathesis] %s\n' "$*" >&2; }
die() { printf '[schemathesis] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -z "${MGV_TEST_MYSQL_ADMIN_DSN:-}" ]; then
	eval "$("$ROOT_DIR/scripts/testenv.sh" env)"
fi
[ -n "${MGV_TEST_MYSQL_ADMIN_DSN:-}" ] ||
	die 'MGV_TEST_MYSQL_ADMIN_DSN is not set (run: eval "$(scripts/testenv.sh env)")'
command -v mysql >/dev/null || die "the mysql client is required"
command -v curl >/dev/null || die "curl is required"

# --- venv with the pinned schemathesis (created only when missing) ----------
ST_VERSION="$(sed -n 's/^schemathesis==\([^[:space:]]*\).*/\1/p' "$REQS")"
[ -n "$ST_VERSION" ] || die "no schemathesis==VERSION pin in $REQS"
installed() {
	"$VENV_DIR/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}
if [ ! -x "$VENV_DIR/bin/python" ]; then
	log "creating $VENV_DIR"
	mkdir -p "$CACHE_DIR"
	"${PYTHON:-python3}" -m venv "$VENV_DIR"
fi
if [ "$(installed)" != "$ST_VERSION" ]; then
	log "installing schemathesis $ST_VERSION into $VENV_DIR"
	"$VENV_DIR/bin/pip" install -q --disable-pip-version-check -r "$REQS"
	[ "$(installed)" = "$ST_VERSION" ] || die "schemathesis $ST_VERSION did not install"
else
	log "reusing $VENV_DIR (schemathesis $ST_VERSION)"
fi

# --- cleanup ----------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mgv-schemathesis.XXXXXX")"
PID=""
DB=""
cleanup() {
	local rc=$?
	set +e
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"
		for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
		wait "$PID" 2>/dev/null
	fi
	if [ -n "$DB" ]; then
		mysql_admin -e "DROP DATABASE IF EXISTS \`$DB\`" || log "could not drop database $DB"
	fi
	if [ -n "${ST_ARTIFACTS:-}" ]; then
		mkdir -p "$ST_ARTIFACTS" &&
			cp -r "$WORK/mgvcore.log" "$WORK/tally.json" "$WORK/report" "$ST_ARTIFACTS/" 2>/dev/null
	fi
	if [ "$rc" -ne 0 ] && [ -f "$WORK/mgvcore.log" ]; then
		log "last lines of the service log:"
		tail -n 40 "$WORK/mgvcore.log" >&2
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- database ---------------------------------------------------------------
# Go DSN: user:pass@tcp(host:port)/[db]?params
re='^([^:@]*)(:([^@]*))?@tcp\(([^:)]*):([0-9]+)\)/([^?]*)(\?.*)?$'
[[ "$MGV_TEST_MYSQL_ADMIN_DSN" =~ $re ]] || die "cannot parse MGV_TEST_MYSQL_ADMIN_DSN"
MY_USER="${BASH_REMATCH[1]}" MY_PASS="${BASH_REMATCH[3]}"
MY_HOST="${BASH_REMATCH[4]}" MY_PORT="${BASH_REMATCH[5]}"
MY_PARAMS="${BASH_REMATCH[7]:-?charset=utf8mb4&parseTime=true&loc=UTC}"
mysql_admin() {
	MYSQL_PWD="$MY_PASS" mysql --protocol=TCP -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" --batch --skip-column-names "$@"
}
DB_NAME="mgvcore_schema_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mysql_admin -e "CREATE DATABASE \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
DB="$DB_NAME"
log "database $DB"

# --- binary and configuration -----------------------------------------------
log "building mgvcore"
(cd "$ROOT_DIR" && go build -o "$WORK/mgvcore" ./cmd/mgvcore)
cp "$ROOT_DIR/config/config_test.toml" "$WORK/config.toml"

free_ports() {
	"$VENV_DIR/bin/python" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r HTTP_PORT GRPC_PORT ADMIN_PORT <<<"$(free_ports 3)"
BASE="http://127.0.0.1:$HTTP_PORT"

# Only the settings below reach the binary, which refuses every MGV_
# variable that is not a setting (MGV_TEST_*, MGV_CACHE_DIR, …).
for v in $(compgen -e -X '!MGV_*'); do export -n "$v"; done
export MGV_APP_BANNER="$ROOT_DIR/config/banner.txt"
export MGV_HTTP_ADDR="127.0.0.1:$HTTP_PORT"
export MGV_GRPC_ADDR="127.0.0.1:$GRPC_PORT"
export MGV_ADMIN_ADDR="127.0.0.1:$ADMIN_PORT"
export MGV_ADMIN_PPROF=false
export MGV_PROCESS_PID_FILE="$WORK/run/mgvcore.pid"
export MGV_SSL_DIR="$WORK/ssl"
export MGV_SSL_GENERATE=true
export MGV_DATABASE_DRIVER=mysql
export MGV_DATABASE_DSN="$MY_USER${MY_PASS:+:$MY_PASS}@tcp($MY_HOST:$MY_PORT)/$DB$MY_PARAMS"
export MGV_SEARCH_ENGINE=embedded
export MGV_SEARCH_PATH="$WORK/search"
export MGV_TRACING_ENABLED=false
export MGV_CONSUL_ENABLED=false
export MGV_AUTH_ACCESS_TOKEN_TTL=1h
# One client address makes every call: the fuzzed wrong passwords must not
# lock the hooks' sign-ins out (the per-account limit stays as configured).
export MGV_AUTH_SIGNIN_ADDRESS_ATTEMPTS=100000000
export MGV_RATELIMIT_ANON_RPS=100000
export MGV_RATELIMIT_ANON_BURST=100000
export MGV_RATELIMIT_TIERS_STANDARD_RPS=100000
export MGV_RATELIMIT_TIERS_STANDARD_BURST=100000
export MGV_RATELIMIT_TIERS_PREMIUM_RPS=100000
export MGV_RATELIMIT_TIERS_PREMIUM_BURST=100000
unset MGV_CONFIG

cd "$WORK"
log "seeding the demo tenant"
./mgvcore --config "$WORK/config.toml" seed --password "$PASSWORD" >"$WORK/seed.log" 2>&1 ||
	{ cat "$WORK/seed.log" >&2; die "seed failed"; }

log "starting mgvcore on $BASE"
./mgvcore --config "$WORK/config.toml" serve >"$WORK/mgvcore.log" 2>&1 &
PID=$!
for i in $(seq 1 300); do
	kill -0 "$PID" 2>/dev/null || die "mgvcore exited before it was ready"
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ] && break
	[ "$i" -eq 300 ] && die "mgvcore not ready within 30s"
	sleep 0.1
done

log "logging in as $ADMIN"
LOGIN="$(curl -sS -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
	--data "{\"account\":\"$ADMIN\",\"password\":\"$PASSWORD\"}")"
TOKEN="$(printf '%s' "$LOGIN" | "$VENV_DIR/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')" ||
	die "login failed: $LOGIN"
[ -n "$TOKEN" ] || die "login returned no token"

# --- schemathesis ------------------------------------------------------------
# scripts/schemathesis_hooks.py gives every operation its own admin, made by
# an account the fuzzer never addresses, and a fresh one whenever a fuzzed
# call signed it out or demoted it; it counts every answer per operation.
log "st run: --max-examples $MAX_EXAMPLES -w 1 --checks $CHECKS"
start=$SECONDS
rc=0
# shellcheck disable=SC2086
MGV_ST_BASE="$BASE" MGV_ST_SEED_TOKEN="$TOKEN" MGV_ST_TALLY="$WORK/tally.json" \
	SCHEMATHESIS_HOOKS="$ROOT_DIR/scripts/schemathesis_hooks.py" \
	"$VENV_DIR/bin/st" run "$BASE/openapi.json" \
	--workers 1 \
	--max-examples "$MAX_EXAMPLES" \
	--checks "$CHECKS" \
	--request-timeout 30 \
	--generation-database none \
	--report-dir "$WORK/report" \
	--no-color \
	${ST_SEED:+--seed "$ST_SEED"} \
	${ST_EXTRA_ARGS:-} || rc=$?
log "st run finished in $((SECONDS - start))s (exit $rc)"

# --- coverage: every documented operation must have been really exercised ----
curl -sS -o "$WORK/openapi.json" "$BASE/openapi.json"
"$VENV_DIR/bin/python" "$ROOT_DIR/scripts/schemathesis_tally.py" "$WORK/openapi.json" "$WORK/tally.json" || rc=$((rc ? rc : 1))
log "done in $((SECONDS - start))s"
exit "$rc"
