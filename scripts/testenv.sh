#!/usr/bin/env bash
# Integration-test environment for mgvcore: MariaDB, Elasticsearch 7, an
# OpenSearch 2 with the production analyzer, Jaeger all-in-one, Consul (dev
# agent) and Python venvs with the partner client, all on 127.0.0.1, without
# Docker or systemd.
#
# Usage:
#   scripts/testenv.sh up [SERVICE...]     start (or reuse) services, print env
#   scripts/testenv.sh down [SERVICE...]   stop services this script started
#   scripts/testenv.sh start SERVICE...    start only these (no env output)
#   scripts/testenv.sh stop SERVICE...     stop only these (fault tests)
#   scripts/testenv.sh restart SERVICE...  stop then start
#   scripts/testenv.sh status [SERVICE...] one line per service: up/down
#                                          (exit 1 if any listed one is down)
#   scripts/testenv.sh env                 print the export lines only
#
# SERVICE: mysql (alias mariadb), es (alias elasticsearch), analyzer (alias
# opensearch), jaeger, consul, python (alias venv). Default for
# up/down/status: all of them.
#
# es is the minimal Elasticsearch 7.17 integ-test-zip on :9200: no
# analysis-common, so indices there get the plain standard analysis.
# analyzer is the OpenSearch integ-test-zip with the analysis-common module
# laid in (CJK width folding and bigrams, Porter stemming: the production
# mapping) on :9201, exported as MGV_TEST_ANALYZER_URL.
#
# Typical use:  eval "$(scripts/testenv.sh up)"
#
# Only the `export` lines go to stdout; all progress goes to stderr.
#
# Everything downloaded or built is cached in ${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}
# (binaries in bin/, Elasticsearch in es/, OpenSearch with analysis-common in
# analyzer/, Python venvs in venv-client*/); data and logs of running services
# are in ${MGV_CACHE_DIR}/run/<service>/.
#
# Environment knobs (all optional):
#   MGV_CACHE_DIR          cache/run root (default $HOME/.cache/mgvcore)
#   MGV_ES_VERSIONS        space-separated Elasticsearch versions to try, in order
#   MGV_OPENSEARCH_VERSIONS  fallback OpenSearch 1.3.x versions to try
#   MGV_ANALYZER_VERSION   OpenSearch (and analysis-common) version of analyzer
#                          (default 2.19.6, the newest that runs on Java 17)
#   MGV_ES_JAVA_HOME       JDK to run Elasticsearch and OpenSearch with (default: a Java 17)
#   MGV_ES_HEAP            heap of each of them (default 512m)
#   MGV_WAIT_TIMEOUT       seconds to wait for each service (default 300)
set -euo pipefail

# All progress goes to stderr; fd 3 is the real stdout for `export` lines.
exec 3>&1 1>&2

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${MGV_CACHE_DIR:-$HOME/.cache/mgvcore}"
RUN_DIR="$CACHE_DIR/run"
BIN_DIR="$CACHE_DIR/bin"
WAIT_TIMEOUT="${MGV_WAIT_TIMEOUT:-300}"

HOST=127.0.0.1
MYSQL_PORT=3306
ES_PORT=9200
ES_TRANSPORT_PORT=9300
ANALYZER_PORT=9201
ANALYZER_TRANSPORT_PORT=9301
JAEGER_AGENT_COMPACT_PORT=6831
JAEGER_AGENT_BINARY_PORT=6832
JAEGER_AGENT_ZIPKIN_PORT=5775
JAEGER_AGENT_HTTP_PORT=5778
JAEGER_COLLECTOR_HTTP_PORT=14268
JAEGER_COLLECTOR_GRPC_PORT=14250
JAEGER_QUERY_HTTP_PORT=16686
JAEGER_QUERY_GRPC_PORT=16685
JAEGER_ADMIN_PORT=14269
CONSUL_HTTP_PORT=8500

MYSQL_TEST_DB=mgvcore_test
MYSQL_TEST_USER=mgv
MYSQL_TEST_PASSWORD=mgv

ES_VERSIONS="${MGV_ES_VERSIONS:-7.17.29 7.17.28 7.17.27 7.17.26 7.17.25}"
OPENSEARCH_VERSIONS="${MGV_OPENSEARCH_VERSIONS:-1.3.20 1.3.19 1.3.18}"
ANALYZER_VERSION="${MGV_ANALYZER_VERSION:-2.19.6}"
ES_HEAP="${MGV_ES_HEAP:-512m}"
ES_USER=mgvsearch

ALL_SERVICES=(mysql es analyzer jaeger consul python)

# ---------------------------------------------------------------------------
# helpers

log() { printf '[testenv] %s\n' "$*" >&2; }
die() { printf '[testenv] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

SUDO=()
if ! is_root; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); fi
fi

APT_UPDATED=0
apt_install() {
  # apt_install PKG... : install Debian packages non-interactively.
  if ! is_root && [ ${#SUDO[@]} -eq 0 ]; then
    die "need to install '$*' but not root and no sudo; install them first"
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >&2 ||
      log "apt-get update failed; trying the install anyway"
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  # Keep package postinst scripts from starting system services (e.g. a
  # system MariaDB on port 3306): we run our own instances by hand.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  local rc=0
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    --no-install-recommends "$@" >&2 || rc=$?
  if [ "$created_policy" -eq 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || die "apt-get install $* failed"
}

need_cmd() {
  # need_cmd CMD PKG : make sure CMD exists, installing Debian PKG if not.
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
}

tcp_open() { # tcp_open PORT [HOST]
  (exec 9<>"/dev/tcp/${2:-$HOST}/$1") >/dev/null 2>&1
}

http_ok() { # http_ok URL : 2xx within 3 s
  curl -fsS -o /dev/null --max-time 3 "$1" >/dev/null 2>&1
}

pid_alive() { # pid_alive PIDFILE NAME-PATTERN
  local pidfile=$1 pattern=$2 pid
  [ -s "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

pid_of() { tr -dc '0-9' <"$1"; }

stop_pidfile() { # stop_pidfile NAME PIDFILE PATTERN [TIMEOUT]
  local name=$1 pidfile=$2 pattern=$3 timeout=${4:-60} pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    log "$name: not running (no live pid file)"
    return 0
  fi
  pid=$(pid_of "$pidfile")
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
}

wait_for() { # wait_for NAME TIMEOUT LOGFILE PIDFILE PATTERN CMD...
  local name=$1 timeout=$2 logfile=$3 pidfile=$4 pattern=$5 start
  shift 5
  start=$(date +%s)
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$pidfile" ]; then
      # A daemon may write its pid file only a little after launch.
      if { [ -e "$pidfile" ] && ! pid_alive "$pidfile" "$pattern"; } ||
        { [ ! -e "$pidfile" ] && [ $(($(date +%s) - start)) -gt 90 ]; }; then
        log "$name: process died; last lines of $logfile:"
        tail -n 40 "$logfile" >&2 2>/dev/null || true
        die "$name failed to start"
      fi
    fi
    if [ $(($(date +%s) - start)) -ge "$timeout" ]; then
      log "$name: not ready after ${timeout}s; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 2>/dev/null || true
      die "$name did not become ready"
    fi
    sleep 1
  done
  log "$name: ready ($(($(date +%s) - start))s)"
}

launch() { # launch LOGFILE CMD... : run detached, no stdio tied to us; echoes pid
  local logfile=$1
  shift
  # fd 3 (our real stdout, maybe a $(...) pipe) and fd 8 (the lock) must
  # not leak into the daemon, or callers would hang / the lock never free.
  setsid nohup "$@" </dev/null >>"$logfile" 2>&1 3>&- 8>&- &
  echo $!
}

sha_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

ensure_user() { # ensure_user NAME : unprivileged system user
  id "$1" >/dev/null 2>&1 && return 0
  log "creating system user $1"
  "${SUDO[@]}" useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin "$1"
}

run_as() { # run_as USER CMD...
  if [ "$(id -un)" = "$1" ]; then "${@:2}"; else runuser -u "$1" -- "${@:2}"; fi
}

grant_traverse() { # grant_traverse USER DIR : let USER reach DIR (search bit only)
  local user=$1 dir=$2 d path="" parts
  run_as "$user" test -x "$dir" 2>/dev/null && return 0
  IFS=/ read -r -a parts <<<"${dir#/}"
  for d in "${parts[@]}"; do
    path="$path/$d"
    if ! run_as "$user" test -x "$path" 2>/dev/null; then
      if ! command -v setfacl >/dev/null 2>&1; then (apt_install acl) || true; fi
      if command -v setfacl >/dev/null 2>&1 && setfacl -m "u:$user:x" "$path" 2>/dev/null; then
        log "granted search permission on $path to $user (ACL)"
      else
        chmod o+x "$path"
        log "granted search permission on $path to others (chmod o+x)"
      fi
    fi
  done
}

# ---------------------------------------------------------------------------
# MariaDB

MYSQL_RUN="$RUN_DIR/mysql"
MYSQL_DATA="$MYSQL_RUN/data"
MYSQL_SOCK="$MYSQL_RUN/mysqld.sock"
MYSQL_PID="$MYSQL_RUN/testenv.pid"      # written by us (the launched mariadbd)
MYSQL_SERVER_PID="$MYSQL_RUN/mysqld.pid" # written by mariadbd itself
MYSQL_LOG="$MYSQL_RUN/mysqld.log"

mariadbd_bin() {
  command -v mariadbd 2>/dev/null || { [ -x /usr/sbin/mariadbd ] && echo /usr/sbin/mariadbd; } || true
}

mysql_client() {
  command -v mariadb 2>/dev/null || command -v mysql 2>/dev/null || true
}

mysql_user() {
  if is_root; then
    id mysql >/dev/null 2>&1 && echo mysql || echo root
  else
    id -un
  fi
}

mysql_admin_user() { if is_root; then echo root; else id -un; fi; }

mysql_mgv_ok() {
  "$(mysql_client)" --no-defaults --protocol=tcp -h "$HOST" -P "$MYSQL_PORT" \
    -u "$MYSQL_TEST_USER" -p"$MYSQL_TEST_PASSWORD" -e "USE $MYSQL_TEST_DB; SELECT 1" >/dev/null 2>&1
}

mysql_provision() {
  # Idempotent: test database and the mgv user, allowed on mgvcore\_% databases.
  local client
  client=$(mysql_client)
  local -a conn=()
  if [ -S "$MYSQL_SOCK" ]; then
    conn=(--socket="$MYSQL_SOCK" -u "$(mysql_admin_user)")
  else
    conn=(-u root) # a server we did not start: try its default socket
  fi
  if ! "$client" --no-defaults "${conn[@]}" <<SQL 2>/dev/null; then
CREATE DATABASE IF NOT EXISTS \`$MYSQL_TEST_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$MYSQL_TEST_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
CREATE USER IF NOT EXISTS '$MYSQL_TEST_USER'@'localhost' IDENTIFIED BY '$MYSQL_TEST_PASSWORD';
GRANT ALL PRIVILEGES ON \`mgvcore\\_%\`.* TO '$MYSQL_TEST_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`mgvcore\\_%\`.* TO '$MYSQL_TEST_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
    mysql_mgv_ok || die "mysql: cannot provision $MYSQL_TEST_USER/$MYSQL_TEST_DB on the server at $HOST:$MYSQL_PORT (no root access)"
    log "mysql: no root access to the server on :$MYSQL_PORT, but $MYSQL_TEST_USER works; reusing it"
  fi
  mysql_mgv_ok || die "mysql: login as $MYSQL_TEST_USER over TCP failed"
}

mysql_start() {
  if tcp_open "$MYSQL_PORT"; then
    log "mysql: port $MYSQL_PORT already answers, reusing"
    [ -n "$(mysql_client)" ] || apt_install mariadb-client
    return 0
  fi
  if pid_alive "$MYSQL_PID" mariadbd; then
    log "mysql: pid $(pid_of "$MYSQL_PID") is still starting, waiting for it"
    MYSQL_STARTED=1
    return 0
  fi
  if [ -z "$(mariadbd_bin)" ]; then
    apt_install mariadb-server mariadb-client
  fi
  [ -n "$(mysql_client)" ] || apt_install mariadb-client
  local mariadbd user
  mariadbd=$(mariadbd_bin)
  [ -n "$mariadbd" ] || die "mariadbd not found after install"
  user=$(mysql_user)
  mkdir -p "$MYSQL_RUN"
  if [ "$user" != "$(id -un)" ]; then
    grant_traverse "$user" "$RUN_DIR"
    chown "$user:" "$MYSQL_RUN"
  fi
  if [ ! -d "$MYSQL_DATA/mysql" ]; then
    log "mysql: initialising datadir $MYSQL_DATA"
    rm -rf "$MYSQL_DATA" "$MYSQL_DATA.tmp"
    mkdir -p "$MYSQL_DATA.tmp"
    [ "$user" = "$(id -un)" ] || chown "$user:" "$MYSQL_DATA.tmp"
    local installdb
    installdb=$(command -v mariadb-install-db || command -v mysql_install_db || true)
    [ -n "$installdb" ] || die "mariadb-install-db not found"
    "$installdb" --no-defaults --user="$user" --datadir="$MYSQL_DATA.tmp" \
      --auth-root-authentication-method=socket --skip-test-db \
      >"$MYSQL_RUN/install-db.log" 2>&1 ||
      { tail -n 30 "$MYSQL_RUN/install-db.log" >&2; die "mariadb-install-db failed"; }
    mv "$MYSQL_DATA.tmp" "$MYSQL_DATA"
  fi
  rm -f "$MYSQL_SOCK" "$MYSQL_PID" "$MYSQL_SERVER_PID"
  log "mysql: starting mariadbd on $HOST:$MYSQL_PORT (log $MYSQL_LOG)"
  launch "$MYSQL_LOG" "$mariadbd" --no-defaults --user="$user" \
    --datadir="$MYSQL_DATA" --socket="$MYSQL_SOCK" --pid-file="$MYSQL_SERVER_PID" \
    --bind-address="$HOST" --port="$MYSQL_PORT" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --default-time-zone=+00:00 --skip-name-resolve --max-connections=500 \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
    --innodb-doublewrite=0 >"$MYSQL_PID"
  MYSQL_STARTED=1
}

mysql_wait() {
  if [ "${MYSQL_STARTED:-0}" -eq 1 ]; then
    wait_for mysql 120 "$MYSQL_LOG" "$MYSQL_PID" mariadbd \
      "$(mysql_client)" --no-defaults --socket="$MYSQL_SOCK" -u "$(mysql_admin_user)" -e 'SELECT 1' -s
  fi
  mysql_provision
  log "mysql: ok ($MYSQL_TEST_USER@$HOST:$MYSQL_PORT/$MYSQL_TEST_DB)"
}

mysql_stop() { stop_pidfile mysql "$MYSQL_PID" mariadbd 120; }

mysql_status() {
  if tcp_open "$MYSQL_PORT"; then
    if pid_alive "$MYSQL_PID" mariadbd; then echo "up (pid $(pid_of "$MYSQL_PID"), $HOST:$MYSQL_PORT)"
    else echo "up (not started by testenv, $HOST:$MYSQL_PORT)"; fi
  else echo down; fi
}

# ---------------------------------------------------------------------------
# Elasticsearch (and the helpers every search node shares)

ES_RUN="$RUN_DIR/es"
ES_PID="$ES_RUN/es.pid"
ES_LOG="$ES_RUN/stdout.log"

find_java17_home() {
  local d
  for d in "${MGV_ES_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/temurin-17-* \
    /usr/lib/jvm/java-17-*; do
    [ -n "$d" ] && [ -x "$d/bin/java" ] && { echo "$d"; return 0; }
  done
  # Any java 11..21 in PATH (ES 7.17 needs a SecurityManager, gone in 24+).
  if command -v java >/dev/null 2>&1; then
    local jh major
    jh=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    major=$("$jh/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
    if [ -n "$major" ] && [ "$major" -ge 11 ] && [ "$major" -le 21 ]; then echo "$jh"; return 0; fi
  fi
  return 1
}

maven_copy() { # maven_copy GROUP:ARTIFACT:VERSION:TYPE DIR : download one artifact into DIR
  need_cmd mvn maven
  mkdir -p "$2"
  (cd "$2" && mvn -B -q dependency:copy -Dartifact="$1" -DoutputDirectory="$2" >"$2/mvn.log" 2>&1)
}

unpack_dist() { # unpack_dist LABEL ZIP NAME PARENT [HOOK] : ZIP's top folder NAME becomes PARENT/NAME
  # HOOK DIR runs on the unpacked copy before it is moved into place, so
  # PARENT/NAME only ever exists complete.
  local label=$1 zip=$2 name=$3 parent=$4 hook=${5:-}
  need_cmd unzip unzip
  log "$label: unpacking $(basename "$zip")"
  local tmp="$parent/.unpack.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  unzip -q "$zip" -d "$tmp"
  [ -d "$tmp/$name" ] || die "$label: unexpected layout in $zip"
  if [ -n "$hook" ]; then "$hook" "$tmp/$name"; fi
  rm -rf "${parent:?}/$name"
  mv "$tmp/$name" "$parent/$name"
  rm -rf "$tmp"
  log "$label: installed $parent/$name"
}

search_node_start() { # search_node_start LABEL HOME RUNDIR PIDFILE LOG HTTP_PORT TRANSPORT_PORT CLUSTER
  # Runs the Elasticsearch or OpenSearch distribution in HOME as a daemon,
  # single node on $HOST, as the unprivileged $ES_USER when we are root.
  local label=$1 home=$2 run=$3 pidfile=$4 logfile=$5 http_port=$6 transport_port=$7 cluster=$8
  local java_home exe user
  java_home=$(find_java17_home) || { apt_install openjdk-17-jre-headless; java_home=$(find_java17_home) || die "$label: no Java 17 found"; }
  exe="$home/bin/elasticsearch"
  [ -x "$exe" ] || exe="$home/bin/opensearch"
  mkdir -p "$run/data" "$run/logs" "$run/tmp"
  if is_root; then
    user=$ES_USER
    ensure_user "$user"
    grant_traverse "$user" "$CACHE_DIR"
    # The node writes its keystore into config/ and gc logs relative to home.
    chown -R "$user:" "$home" "$run"
  else
    user=$(id -un)
  fi
  rm -f "$pidfile"
  local -a settings=(
    -Ediscovery.type=single-node
    -Enetwork.host="$HOST"
    -Ehttp.port="$http_port"
    -Etransport.port="$transport_port"
    -Ecluster.name="$cluster"
    -Enode.name="$cluster"
    -Epath.data="$run/data"
    -Epath.logs="$run/logs"
    -Ecluster.routing.allocation.disk.threshold_enabled=false
  )
  case "$exe" in
    */elasticsearch) settings+=(-Expack.security.enabled=false) ;;
    *) if [ -d "$home/plugins/opensearch-security" ]; then settings+=(-Eplugins.security.disabled=true); fi ;;
  esac
  log "$label: starting $(basename "$home") as $user on $HOST:$http_port (java $java_home, logs $run/logs)"
  (
    cd "$home"
    run_as "$user" env ES_JAVA_HOME="$java_home" JAVA_HOME="$java_home" \
      OPENSEARCH_JAVA_HOME="$java_home" \
      ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" OPENSEARCH_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
      ES_TMPDIR="$run/tmp" OPENSEARCH_TMPDIR="$run/tmp" \
      setsid "$exe" -d -p "$pidfile" "${settings[@]}" </dev/null >>"$logfile" 2>&1 3>&- 8>&-
  ) || { tail -n 40 "$logfile" >&2 || true; die "$label: failed to launch"; }
}

search_health() { # search_health PORT : cluster at least yellow
  curl -fsS --max-time 5 "http://$HOST:$1/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null |
    grep -Eq '"status":"(yellow|green)"'
}

search_status() { # search_status PORT PIDFILE
  if tcp_open "$1"; then
    if pid_alive "$2" java; then echo "up (pid $(pid_of "$2"), http://$HOST:$1)"
    else echo "up (not started by testenv, http://$HOST:$1)"; fi
  else echo down; fi
}

es_home() { # the unpacked distribution in the cache, if any
  local d
  for d in "$CACHE_DIR"/es/elasticsearch-7.* "$CACHE_DIR"/es/opensearch-1.*; do
    [ -x "$d/bin/elasticsearch" ] || [ -x "$d/bin/opensearch" ] || continue
    echo "$d"
    return 0
  done
  return 1
}

es_fetch() {
  es_home >/dev/null && return 0
  local dl="$CACHE_DIR/es/download" v zip="" name=""
  for v in $ES_VERSIONS; do
    log "es: fetching elasticsearch integ-test-zip $v (maven)"
    if maven_copy "org.elasticsearch.distribution.integ-test-zip:elasticsearch:$v:zip" "$dl"; then
      zip="$dl/elasticsearch-$v.zip" name="elasticsearch-$v"
      break
    fi
    log "es: elasticsearch $v not available"
  done
  if [ -z "$zip" ]; then
    for v in $OPENSEARCH_VERSIONS; do
      log "es: fetching opensearch integ-test-zip $v (maven)"
      if maven_copy "org.opensearch.distribution.integ-test-zip:opensearch:$v:zip" "$dl"; then
        zip="$dl/opensearch-$v.zip" name="opensearch-$v"
        break
      fi
      log "es: opensearch $v not available"
    done
  fi
  if [ -z "$zip" ] || [ ! -f "$zip" ]; then
    tail -n 20 "$dl/mvn.log" >&2 || true
    die "es: no Elasticsearch 7.17.x or OpenSearch 1.3.x could be fetched"
  fi
  unpack_dist es "$zip" "$name" "$CACHE_DIR/es"
}

es_start() {
  if tcp_open "$ES_PORT"; then
    log "es: port $ES_PORT already answers, reusing"
    return 0
  fi
  if pid_alive "$ES_PID" java; then
    log "es: pid $(pid_of "$ES_PID") is still starting, waiting for it"
    ES_STARTED=1
    return 0
  fi
  need_cmd curl curl
  local home
  es_fetch
  home=$(es_home) || die "es: distribution missing"
  search_node_start es "$home" "$ES_RUN" "$ES_PID" "$ES_LOG" "$ES_PORT" "$ES_TRANSPORT_PORT" mgvcore-test
  ES_STARTED=1
}

es_health() { search_health "$ES_PORT"; }

es_wait() {
  if [ "${ES_STARTED:-0}" -eq 1 ]; then
    wait_for es "$WAIT_TIMEOUT" "$ES_RUN/logs/mgvcore-test.log" "$ES_PID" "java" es_health
  else
    wait_for es 60 /dev/null "" "" es_health
  fi
}

es_stop() { stop_pidfile es "$ES_PID" java 90; }

es_status() { search_status "$ES_PORT" "$ES_PID"; }

# ---------------------------------------------------------------------------
# OpenSearch with the production analyzer (analysis-common: CJK width and
# bigrams, Porter stemming), beside the plain Elasticsearch above. The
# integ-test-zip ships no modules but transport-netty4 and no security
# plugin; analysis-common is published as a bare jar, so it is laid into
# modules/ with its descriptor here. Its Painless extension (scripted token
# filters) stays unused: lang-painless is not installed.

ANALYZER_RUN="$RUN_DIR/analyzer"
ANALYZER_PID="$ANALYZER_RUN/opensearch.pid"
ANALYZER_LOG="$ANALYZER_RUN/stdout.log"

analyzer_home() { echo "$CACHE_DIR/analyzer/opensearch-$ANALYZER_VERSION"; }

analyzer_add_module() { # analyzer_add_module HOME : lay analysis-common into modules/
  local mod="$1/modules/analysis-common" dl="$CACHE_DIR/analyzer/download"
  mkdir -p "$mod"
  cp "$dl/analysis-common-$ANALYZER_VERSION.jar" "$mod/"
  cat >"$mod/plugin-descriptor.properties" <<PROPS
description=Adds "built in" analyzers to OpenSearch.
version=$ANALYZER_VERSION
name=analysis-common
classname=org.opensearch.analysis.common.CommonAnalysisPlugin
java.version=11
opensearch.version=$ANALYZER_VERSION
custom.foldername=
extended.plugins=
has.native.controller=false
PROPS
}

analyzer_fetch() {
  local home dl="$CACHE_DIR/analyzer/download" v=$ANALYZER_VERSION
  home=$(analyzer_home)
  [ -x "$home/bin/opensearch" ] && [ -f "$home/modules/analysis-common/plugin-descriptor.properties" ] && return 0
  log "analyzer: fetching opensearch integ-test-zip $v and analysis-common $v (maven)"
  { [ -f "$dl/opensearch-$v.zip" ] ||
    maven_copy "org.opensearch.distribution.integ-test-zip:opensearch:$v:zip" "$dl"; } &&
    { [ -f "$dl/analysis-common-$v.jar" ] ||
      maven_copy "org.opensearch.plugin:analysis-common:$v:jar" "$dl"; } ||
    { tail -n 20 "$dl/mvn.log" >&2 || true; die "analyzer: OpenSearch $v or its analysis-common could not be fetched"; }
  unpack_dist analyzer "$dl/opensearch-$v.zip" "opensearch-$v" "$CACHE_DIR/analyzer" analyzer_add_module
}

analyzer_start() {
  if tcp_open "$ANALYZER_PORT"; then
    log "analyzer: port $ANALYZER_PORT already answers, reusing"
    return 0
  fi
  if pid_alive "$ANALYZER_PID" java; then
    log "analyzer: pid $(pid_of "$ANALYZER_PID") is still starting, waiting for it"
    ANALYZER_STARTED=1
    return 0
  fi
  need_cmd curl curl
  analyzer_fetch
  search_node_start analyzer "$(analyzer_home)" "$ANALYZER_RUN" "$ANALYZER_PID" "$ANALYZER_LOG" \
    "$ANALYZER_PORT" "$ANALYZER_TRANSPORT_PORT" mgvcore-analyzer
  ANALYZER_STARTED=1
}

analyzer_ready() { # healthy, and the bigram filters answer
  search_health "$ANALYZER_PORT" &&
    curl -fsS --max-time 5 -H 'Content-Type: application/json' "http://$HOST:$ANALYZER_PORT/_analyze" \
      -d '{"tokenizer":"standard","filter":["cjk_width","cjk_bigram","porter_stem"],"text":"x"}' >/dev/null 2>&1
}

analyzer_wait() {
  if [ "${ANALYZER_STARTED:-0}" -eq 1 ]; then
    wait_for analyzer "$WAIT_TIMEOUT" "$ANALYZER_RUN/logs/mgvcore-analyzer.log" "$ANALYZER_PID" "java" analyzer_ready
  else
    wait_for analyzer 60 /dev/null "" "" analyzer_ready
  fi
}

analyzer_stop() { stop_pidfile analyzer "$ANALYZER_PID" java 90; }

analyzer_status() { search_status "$ANALYZER_PORT" "$ANALYZER_PID"; }

# ---------------------------------------------------------------------------
# Go-built tools (Jaeger, Consul)

go_build_tool() { # go_build_tool NAME MODDIR PKG [LDFLAGS] : build into $BIN_DIR/NAME if stale
  local name=$1 moddir=$2 pkg=$3 ldflags="-s -w ${4:-}" out="$BIN_DIR/$1" stamp="$BIN_DIR/.$1.sum" want
  # go.sum changes whenever a dependency (or a replace target) does.
  want=$(sha_of "$moddir/go.sum")
  if [ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "$name: Go toolchain not found in PATH (needed to build $pkg)"
  mkdir -p "$BIN_DIR"
  log "$name: building $pkg from $moddir (takes minutes the first time)"
  local t0=$SECONDS
  (cd "$moddir" && go build -mod=readonly -trimpath -ldflags="$ldflags" -o "$out.tmp.$$" "$pkg") >&2 ||
    { rm -f "$out.tmp.$$"; die "$name: go build failed"; }
  mv -f "$out.tmp.$$" "$out"
  echo "$want" >"$stamp"
  log "$name: built $out in $((SECONDS - t0))s"
}

tool_version() { # tool_version MODDIR MODULE : version required in MODDIR/go.mod
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

# ---------------------------------------------------------------------------
# Jaeger all-in-one

JAEGER_RUN="$RUN_DIR/jaeger"
JAEGER_PID="$JAEGER_RUN/jaeger.pid"
JAEGER_LOG="$JAEGER_RUN/jaeger.log"

jaeger_start() {
  if tcp_open "$JAEGER_QUERY_HTTP_PORT"; then
    log "jaeger: port $JAEGER_QUERY_HTTP_PORT already answers, reusing"
    return 0
  fi
  if pid_alive "$JAEGER_PID" jaeger-all-in-one; then
    log "jaeger: pid $(pid_of "$JAEGER_PID") is still starting, waiting for it"
    JAEGER_STARTED=1
    return 0
  fi
  need_cmd curl curl
  go_build_tool jaeger-all-in-one "$ROOT_DIR/tools/jaeger" github.com/jaegertracing/jaeger/cmd/all-in-one \
    "-X github.com/jaegertracing/jaeger/pkg/version.latestVersion=$(tool_version "$ROOT_DIR/tools/jaeger" github.com/jaegertracing/jaeger)"
  mkdir -p "$JAEGER_RUN"
  log "jaeger: starting all-in-one (memory storage) on $HOST (log $JAEGER_LOG)"
  local pid
  pid=$(cd "$JAEGER_RUN" && SPAN_STORAGE_TYPE=memory OTEL_TRACES_SAMPLER=always_off \
    launch "$JAEGER_LOG" "$BIN_DIR/jaeger-all-in-one" \
    --memory.max-traces=100000 \
    --collector.otlp.enabled=false \
    --collector.http-server.host-port="$HOST:$JAEGER_COLLECTOR_HTTP_PORT" \
    --collector.grpc-server.host-port="$HOST:$JAEGER_COLLECTOR_GRPC_PORT" \
    --processor.jaeger-compact.server-host-port="$HOST:$JAEGER_AGENT_COMPACT_PORT" \
    --processor.jaeger-binary.server-host-port="$HOST:$JAEGER_AGENT_BINARY_PORT" \
    --processor.zipkin-compact.server-host-port="$HOST:$JAEGER_AGENT_ZIPKIN_PORT" \
    --http-server.host-port="$HOST:$JAEGER_AGENT_HTTP_PORT" \
    --query.http-server.host-port="$HOST:$JAEGER_QUERY_HTTP_PORT" \
    --query.grpc-server.host-port="$HOST:$JAEGER_QUERY_GRPC_PORT" \
    --admin.http.host-port="$HOST:$JAEGER_ADMIN_PORT")
  echo "$pid" >"$JAEGER_PID"
  JAEGER_STARTED=1
}

jaeger_ready() {
  http_ok "http://$HOST:$JAEGER_QUERY_HTTP_PORT/api/services" &&
    tcp_open "$JAEGER_COLLECTOR_HTTP_PORT"
}

jaeger_wait() {
  if [ "${JAEGER_STARTED:-0}" -eq 1 ]; then
    wait_for jaeger 120 "$JAEGER_LOG" "$JAEGER_PID" jaeger-all-in-one jaeger_ready
  else
    wait_for jaeger 60 /dev/null "" "" jaeger_ready
  fi
}

jaeger_stop() { stop_pidfile jaeger "$JAEGER_PID" jaeger-all-in-one 30; }

jaeger_status() {
  if tcp_open "$JAEGER_QUERY_HTTP_PORT"; then
    if pid_alive "$JAEGER_PID" jaeger-all-in-one; then echo "up (pid $(pid_of "$JAEGER_PID"), query http://$HOST:$JAEGER_QUERY_HTTP_PORT)"
    else echo "up (not started by testenv, query http://$HOST:$JAEGER_QUERY_HTTP_PORT)"; fi
  else echo down; fi
}

# ---------------------------------------------------------------------------
# Consul

CONSUL_RUN="$RUN_DIR/consul"
CONSUL_PID="$CONSUL_RUN/consul.pid"
CONSUL_LOG="$CONSUL_RUN/consul.log"

consul_start() {
  if tcp_open "$CONSUL_HTTP_PORT"; then
    log "consul: port $CONSUL_HTTP_PORT already answers, reusing"
    return 0
  fi
  if pid_alive "$CONSUL_PID" consul; then
    log "consul: pid $(pid_of "$CONSUL_PID") is still starting, waiting for it"
    CONSUL_STARTED=1
    return 0
  fi
  need_cmd curl curl
  go_build_tool consul "$ROOT_DIR/tools/consul" github.com/hashicorp/consul
  mkdir -p "$CONSUL_RUN/data"
  log "consul: starting dev agent on $HOST:$CONSUL_HTTP_PORT (log $CONSUL_LOG)"
  local pid
  pid=$(cd "$CONSUL_RUN" && launch "$CONSUL_LOG" "$BIN_DIR/consul" agent -dev \
    -bind "$HOST" -client "$HOST" -http-port "$CONSUL_HTTP_PORT" \
    -data-dir "$CONSUL_RUN/data" -node mgvcore-test \
    -hcl 'disable_update_check = true')
  echo "$pid" >"$CONSUL_PID"
  CONSUL_STARTED=1
}

consul_ready() {
  curl -fsS --max-time 3 "http://$HOST:$CONSUL_HTTP_PORT/v1/status/leader" 2>/dev/null | grep -q ':'
}

consul_wait() {
  if [ "${CONSUL_STARTED:-0}" -eq 1 ]; then
    wait_for consul 60 "$CONSUL_LOG" "$CONSUL_PID" consul consul_ready
  else
    wait_for consul 60 /dev/null "" "" consul_ready
  fi
}

consul_stop() { stop_pidfile consul "$CONSUL_PID" consul 30; }

consul_status() {
  if tcp_open "$CONSUL_HTTP_PORT"; then
    if pid_alive "$CONSUL_PID" consul; then echo "up (pid $(pid_of "$CONSUL_PID"), $HOST:$CONSUL_HTTP_PORT)"
    else echo "up (not started by testenv, $HOST:$CONSUL_HTTP_PORT)"; fi
  else echo down; fi
}

# ---------------------------------------------------------------------------
# Python venvs: the partner client (gen/, installed as the mgv-open-client
# package, not editable) with only its runtime dependencies, twice: at the
# versions gen/requirements.txt pins (venv-client) and at exactly the floors
# gen/pyproject.toml declares (venv-client-floor). The e2e tests run
# gen/test.py with both. The generator (grpcio-tools) is in neither: it lives
# in scripts/proto.sh's venv-proto.

PY_REQS="$ROOT_DIR/gen/requirements.txt"
PY_PROJECT="$ROOT_DIR/gen/pyproject.toml"
PY_VENV="$CACHE_DIR/venv-client"
PY_FLOOR_VENV="$CACHE_DIR/venv-client-floor"

python_floors() { # "grpcio==X" and "protobuf==Y": the >= floors of gen/pyproject.toml
  local dep v
  for dep in grpcio protobuf; do
    v=$(sed -n "s/^ *\"$dep>=\([0-9][0-9.]*\)[,\"].*/\1/p" "$PY_PROJECT")
    [ -n "$v" ] || die "python: no $dep>= floor in $PY_PROJECT"
    echo "$dep==$v"
  done
}

python_want() { # python_want CONSTRAINTS: content that identifies what a venv must contain
  echo "$1"
  # The package's content: a regenerated stub or an edited pyproject reinstalls it.
  (cd "$ROOT_DIR/gen" && LC_ALL=C find pyproject.toml README.md mgv_webhook.py mgv -type f ! -name '*.pyc' | LC_ALL=C sort |
    xargs sha256sum)
}

python_venv() { # python_venv DIR CONSTRAINTS PIP_ARGS...: DIR with ./gen installed under CONSTRAINTS
  local dir=$1 constraints=$2 want src
  shift 2
  want=$(python_want "$constraints")
  if [ -x "$dir/bin/python" ] && [ -f "$dir/.mgv-ready" ] && [ "$(cat "$dir/.mgv-ready")" = "$want" ]; then
    return 0
  fi
  if ! "$dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_install python3-venv; fi
    log "python: creating venv $dir"
    rm -rf "$dir"
    python3 -m venv "$dir"
  fi
  rm -f "$dir/.mgv-ready"
  # Built from a copy, so no build/ or *.egg-info is left in gen/ and no
  # stale module of an earlier build gets into the wheel.
  src=$(mktemp -d)
  cp -R "$ROOT_DIR/gen/pyproject.toml" "$ROOT_DIR/gen/README.md" "$ROOT_DIR/gen/mgv_webhook.py" "$ROOT_DIR/gen/mgv" "$src/"
  find "$src" -name __pycache__ -prune -exec rm -rf {} +
  echo "$constraints" >"$src/constraints.txt"
  log "python: installing gen/ (mgv-open-client) into $dir with $(echo "$constraints" | grep -E '^(grpcio|protobuf)==' | tr '\n' ' ')"
  "$dir/bin/python" -m pip uninstall -q -y --disable-pip-version-check mgv-open-client >&2 2>/dev/null || true
  if ! "$dir/bin/python" -m pip install -q --disable-pip-version-check -c "$src/constraints.txt" "$@" "$src" >&2; then
    rm -rf "$src"
    die "python: pip install of gen/ into $dir failed"
  fi
  rm -rf "$src"
  # The installed package, not a checkout, from a directory without gen/.
  (cd / && "$dir/bin/python" -I -c '
import importlib, pkgutil, mgv.open.v1 as p, mgv_webhook
for m in pkgutil.iter_modules(p.__path__):
    importlib.import_module("mgv.open.v1." + m.name)
') || die "python: the installed mgv.open.v1 or mgv_webhook does not import in $dir"
  echo "$want" >"$dir/.mgv-ready"
  log "python: $dir ready ($("$dir/bin/python" -c 'import grpc, google.protobuf as p; print("grpcio", grpc.__version__, "protobuf", p.__version__)'))"
}

python_start() {
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  [ -f "$PY_REQS" ] || die "python: missing $PY_REQS"
  python_venv "$PY_VENV" "$(grep -Ev '^[[:space:]]*(#|$)' "$PY_REQS")"
  # Exactly the floors, from wheels: if this Python has none for them, the
  # floors are wrong for it and gen/pyproject.toml must say more.
  python_venv "$PY_FLOOR_VENV" "$(python_floors)" --only-binary grpcio --only-binary protobuf
}

python_wait() { :; }
python_stop() { :; } # the venv is a cache, not a process
python_status() {
  if [ -f "$PY_VENV/.mgv-ready" ] && [ -f "$PY_FLOOR_VENV/.mgv-ready" ]; then
    echo "up ($PY_VENV/bin/python, $PY_FLOOR_VENV/bin/python)"
  else echo down; fi
}

# ---------------------------------------------------------------------------
# commands

print_env() {
  cat >&3 <<EOF
export MGV_TEST_MYSQL_DSN='$MYSQL_TEST_USER:$MYSQL_TEST_PASSWORD@tcp($HOST:$MYSQL_PORT)/$MYSQL_TEST_DB?charset=utf8mb4&parseTime=true&loc=UTC'
export MGV_TEST_MYSQL_ADMIN_DSN='$MYSQL_TEST_USER:$MYSQL_TEST_PASSWORD@tcp($HOST:$MYSQL_PORT)/?charset=utf8mb4&parseTime=true&loc=UTC'
export MGV_TEST_ES_URL='http://$HOST:$ES_PORT'
export MGV_TEST_ES_PIDFILE='$ES_PID'
export MGV_TEST_ANALYZER_URL='http://$HOST:$ANALYZER_PORT'
export MGV_TEST_MYSQL_PIDFILE='$MYSQL_PID'
export MGV_TEST_JAEGER_AGENT='$HOST:$JAEGER_AGENT_COMPACT_PORT'
export MGV_TEST_JAEGER_COLLECTOR='http://$HOST:$JAEGER_COLLECTOR_HTTP_PORT/api/traces'
export MGV_TEST_JAEGER_QUERY='http://$HOST:$JAEGER_QUERY_HTTP_PORT'
export MGV_TEST_JAEGER_PIDFILE='$JAEGER_PID'
export MGV_TEST_CONSUL_ADDR='$HOST:$CONSUL_HTTP_PORT'
export MGV_TEST_PYTHON='$PY_VENV/bin/python'
export MGV_TEST_PYTHON_FLOOR='$PY_FLOOR_VENV/bin/python'
EOF
}

normalize_services() { # maps aliases, validates; prints one per line
  local s
  [ $# -gt 0 ] || set -- "${ALL_SERVICES[@]}"
  for s in "$@"; do
    case "$s" in
      mysql | mariadb) echo mysql ;;
      es | elasticsearch) echo es ;;
      analyzer | opensearch) echo analyzer ;;
      jaeger) echo jaeger ;;
      consul) echo consul ;;
      python | venv | py) echo python ;;
      all) printf '%s\n' "${ALL_SERVICES[@]}" ;;
      *) die "unknown service '$s' (mysql es analyzer jaeger consul python)" ;;
    esac
  done | awk '!seen[$0]++'
}

lock() {
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/.testenv.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 1800 8 || die "could not lock $CACHE_DIR/.testenv.lock"
  fi
}

cmd_up() { # cmd_up PRINT_ENV SERVICE...
  local print=$1 s t0=$SECONDS
  shift
  local -a svcs
  mapfile -t svcs < <(normalize_services "$@")
  lock
  mkdir -p "$RUN_DIR" "$BIN_DIR"
  need_cmd curl curl
  # Start everything first (ES boots while the Go tools build), then wait.
  for s in "${svcs[@]}"; do "${s}_start"; done
  for s in "${svcs[@]}"; do "${s}_wait"; done
  log "up: ${svcs[*]} ready in $((SECONDS - t0))s"
  if [ "$print" = 1 ]; then print_env; fi
}

cmd_down() {
  local -a svcs
  local i
  mapfile -t svcs < <(normalize_services "$@")
  lock
  for ((i = ${#svcs[@]} - 1; i >= 0; i--)); do "${svcs[i]}_stop"; done
}

cmd_status() {
  local -a svcs
  local s st rc=0
  mapfile -t svcs < <(normalize_services "$@")
  for s in "${svcs[@]}"; do
    st=$("${s}_status")
    printf '%-8s %s\n' "$s" "$st" >&3
    case "$st" in up*) ;; *) rc=1 ;; esac
  done
  return "$rc"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    up) cmd_up 1 "$@" ;;
    start)
      [ $# -gt 0 ] || die "start: name at least one service"
      cmd_up 0 "$@"
      ;;
    down) cmd_down "$@" ;;
    stop)
      [ $# -gt 0 ] || die "stop: name at least one service"
      cmd_down "$@"
      ;;
    restart)
      [ $# -gt 0 ] || die "restart: name at least one service"
      cmd_down "$@"
      cmd_up 0 "$@"
      ;;
    status) cmd_status "$@" ;;
    env) print_env ;;
    -h | --help | help) usage ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"
