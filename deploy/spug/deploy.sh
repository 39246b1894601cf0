#!/usr/bin/env bash
# Spug deploy script: upgrades a running mgvcore to a new binary without
# downtime, or leaves the previous binary serving.
#
#   deploy.sh NEW_BINARY
#
# In Spug, add it as the release step of the host ("自定义发布" / custom
# release): upload the binary built by `make release`, then run
#   /opt/mgvcore/deploy/spug/deploy.sh /path/to/uploaded/mgvcore
#
# Steps, each of which stops the deploy on failure:
#   1. check   the new binary loads and validates the host's config
#              (`mgvcore config check`);
#   2. review  `mgvcore migrate status`: a pending migration that is not
#              listed in $MGV_REVIEWED (reviewed in Archery) refuses the
#              deploy; reviewed pending migrations are applied;
#   3. swap    the current binary is kept as <bin>.prev and the new one
#              renamed into place (atomic; the running process is not
#              affected);
#   4. upgrade SIGUSR2 to the pid in the pid file (what `systemctl reload`
#              does);
#   5. wait    for the pid file to name a new live process and /readyz to
#              answer 200;
#   6. roll back when 4-5 fail: <bin>.prev is put back, and if a new process
#              took over, it is upgraded again onto the previous binary.
#
# Settings (environment; MGV_* config overrides pass through to the binary,
# these do not):
#   MGV_HOME            install directory             (/opt/mgvcore)
#   MGV_BIN             the binary systemd starts     ($MGV_HOME/bin/mgvcore)
#   MGV_CONFIG          config file                   ($MGV_HOME/config/config.toml)
#   MGV_PID_FILE        process.pid_file of the config (/data/run/mgvcore.pid)
#   MGV_READY_URL       readiness URL                 (http://127.0.0.1:2023/readyz)
#   MGV_REVIEWED        file naming the migrations reviewed in Archery, one per
#                       line                          ($MGV_HOME/reviewed-migrations.txt)
#   MGV_DEPLOY_TIMEOUT  seconds to wait for each upgrade (90)
#   MGV_ENV_FILE        the unit's EnvironmentFile, read when it exists, so
#                       the config check and the migrations see the secrets
#                       the service gets              (/etc/mgvcore/env)
#
# Exit status: 0 upgraded; 1 the new binary failed and the previous one
# serves again; 2 the new binary or the config is unusable (nothing
# changed); 3 unreviewed migrations (nothing changed); 4 no process is
# running (the binary was installed, nothing started); 5 the rollback
# failed too (act now).
set -euo pipefail

MGV_HOME=${MGV_HOME:-/opt/mgvcore}
MGV_BIN=${MGV_BIN:-$MGV_HOME/bin/mgvcore}
MGV_CONFIG=${MGV_CONFIG:-$MGV_HOME/config/config.toml}
MGV_PID_FILE=${MGV_PID_FILE:-/data/run/mgvcore.pid}
MGV_READY_URL=${MGV_READY_URL:-http://127.0.0.1:2023/readyz}
MGV_REVIEWED=${MGV_REVIEWED:-$MGV_HOME/reviewed-migrations.txt}
MGV_DEPLOY_TIMEOUT=${MGV_DEPLOY_TIMEOUT:-90}
MGV_ENV_FILE=${MGV_ENV_FILE:-/etc/mgvcore/env}
# These are this script's own settings, not the binary's, which refuses
# every MGV_ variable that is not one of its settings (MGV_CONFIG is).
export -n MGV_HOME MGV_BIN MGV_PID_FILE MGV_READY_URL MGV_REVIEWED MGV_DEPLOY_TIMEOUT MGV_ENV_FILE

# The unit's environment file, read as systemd reads it (KEY=VALUE, one pair
# of quotes around a value taken off, comments and blank lines skipped),
# not sourced: a DSN's parentheses and ampersands are no shell.
if [ -e "$MGV_ENV_FILE" ] && [ ! -r "$MGV_ENV_FILE" ]; then
	printf 'deploy: %s exists but cannot be read: run the deploy as root, or give its user read access\n' "$MGV_ENV_FILE" >&2
	exit 2
fi
if [ -r "$MGV_ENV_FILE" ]; then
	n=0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		case $line in '' | '#'* | ';'*) continue ;; esac
		key=${line%%=*}
		value=${line#*=}
		[[ $line == *=* && $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { printf 'deploy: %s line %d: not KEY=VALUE\n' "$MGV_ENV_FILE" "$n" >&2; exit 2; }
		case $value in \'*\') value=${value:1:-1} ;; \"*\") value=${value:1:-1} ;; esac
		export "$key=$value"
	done <"$MGV_ENV_FILE"
fi

say() { printf '==> %s\n' "$*"; }
fail() { printf 'deploy: %s\n' "$2" >&2; exit "$1"; }

[ $# -eq 1 ] || fail 2 "usage: $0 NEW_BINARY"
new=$1
[ -f "$new" ] && [ -x "$new" ] || fail 2 "$new is not an executable file"

# One deploy at a time on this host.
exec 9>"$(dirname "$MGV_BIN")/.deploy.lock"
flock -n 9 || fail 2 "another deploy is running"

read_pid() { tr -dc '0-9' <"$MGV_PID_FILE" 2>/dev/null || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
# serving PID: the process is alive and runs the installed binary's path
# (the file there now, or the one it replaced, which Linux shows as
# "(deleted)"): a stale pid file may name an unrelated process, which must
# never get SIGUSR2.
serving() {
	alive "$1" || return 1
	local exe want
	if ! exe=$(readlink "/proc/$1/exe" 2>/dev/null); then
		say "cannot inspect process $1 (/proc/$1/exe): run the deploy as the service's user or as root"
		return 1
	fi
	exe=${exe% (deleted)}
	want=$(readlink -f "$MGV_BIN" 2>/dev/null || printf '%s' "$MGV_BIN")
	[ "$exe" = "$want" ]
}
ready() { curl -fsS -m 2 -o /dev/null "$MGV_READY_URL" 2>/dev/null; }

# wait_upgraded OLD_PID: the pid file names another live process and
# /readyz answers 200, within MGV_DEPLOY_TIMEOUT. Prints the new pid.
wait_upgraded() {
	local old=$1 deadline=$((SECONDS + MGV_DEPLOY_TIMEOUT)) pid
	while [ $SECONDS -lt "$deadline" ]; do
		pid=$(read_pid)
		if [ -n "$pid" ] && [ "$pid" != "$old" ] && alive "$pid" && ready; then
			echo "$pid"
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# 1. check
say "checking $MGV_CONFIG with the new binary"
"$new" --config "$MGV_CONFIG" config check || fail 2 "the new binary rejects the config; nothing changed"

# 2. review gate
say "checking for pending migrations"
status=$("$new" --config "$MGV_CONFIG" migrate status) || fail 2 "cannot read the migration status; nothing changed"
# A migration is pending whether or not some of its statements were
# applied ("pending, partly applied (1 of 3 statements)" after a failed or
# killed `migrate up`): `migrate up` goes on from where it stopped.
pending=$(awk '$2 ~ /^pending/ { print $1 }' <<<"$status")
if [ -n "$pending" ]; then
	unreviewed=""
	for m in $pending; do
		if ! { [ -f "$MGV_REVIEWED" ] && grep -qxF "$m" "$MGV_REVIEWED"; }; then
			unreviewed="$unreviewed $m"
		fi
	done
	if [ -n "$unreviewed" ]; then
		fail 3 "pending migrations not reviewed:$unreviewed
print them with \`mgvcore migrate print --dialect mysql\`, review them in Archery,
then add their names to $MGV_REVIEWED; nothing changed"
	fi
	say "applying reviewed migrations:" $pending
	"$new" --config "$MGV_CONFIG" migrate up || fail 2 "applying the reviewed migrations failed; the binary was not changed"
fi

# 3. swap, keeping the previous binary
bin_dir=$(dirname "$MGV_BIN")
prev=$MGV_BIN.prev
say "installing $new as $MGV_BIN (previous kept as $prev)"
cp "$new" "$MGV_BIN.new"
chmod 0755 "$MGV_BIN.new"
if [ -f "$MGV_BIN" ]; then
	cp -p "$MGV_BIN" "$prev.tmp"
	mv -f "$prev.tmp" "$prev"
fi
mv -f "$MGV_BIN.new" "$MGV_BIN"
sync "$bin_dir" 2>/dev/null || true

restore_prev() {
	[ -f "$prev" ] || return 1
	cp -p "$prev" "$MGV_BIN.rollback"
	mv -f "$MGV_BIN.rollback" "$MGV_BIN"
}

# 4. upgrade
old=$(read_pid)
if ! serving "$old"; then
	say "no running mgvcore (pid file $MGV_PID_FILE names ${old:-nothing}, not a live $(basename "$MGV_BIN")); start it with \`systemctl start mgvcore\`"
	exit 4
fi
say "upgrading process $old (SIGUSR2)"
kill -USR2 "$old"

# 5. wait for the new process
if pid=$(wait_upgraded "$old"); then
	say "process $pid serves the new binary; $old drains and exits"
	exit 0
fi

# 6. roll back
current=$(read_pid)
restore_prev || fail 5 "the new binary failed and there is no previous binary to restore"
if [ "$current" = "$old" ] && alive "$old"; then
	# The new process never took over: the old one still serves the
	# previous binary; only the file needed restoring.
	say "the new binary did not become ready; process $old keeps serving; restored $prev"
	exit 1
fi
if serving "$current"; then
	say "process $current took over but is not ready; upgrading it back to the previous binary"
	kill -USR2 "$current"
	if pid=$(wait_upgraded "$current"); then
		say "process $pid serves the previous binary again"
		exit 1
	fi
fi
fail 5 "rollback failed: no ready process after restoring $prev (pid file: $(read_pid)); start it with \`systemctl restart mgvcore\`"
