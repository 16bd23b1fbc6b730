#!/usr/bin/env bash
# The local embedded stack: Apache Kafka (KRaft, from Maven Central jars), FerretDB 1.24.2
# (built through the Go module proxy) and Redis (Debian). `up` is idempotent: it installs or
# builds what is missing (cached under .local/), starts only what is not running, and waits
# until each service answers. `down` stops what `up` started. `status` says what runs.
#
# Environment (all optional):
#   THREADLOG_LOCAL_DIR        cache + data root              (default: <repo>/.local)
#   THREADLOG_KAFKA_PORT       Kafka client listener           (default: 19092)
#   THREADLOG_KAFKA_CONTROLLER_PORT                            (default: 19093)
#   THREADLOG_KAFKA_VERSION    Kafka jars from Maven Central   (default: 4.1.1; fallback 3.9.1)
#   THREADLOG_KAFKA_HEAP       JVM heap                        (default: 512m)
#   THREADLOG_MONGO_PORT       FerretDB listener               (default: 27018)
#   THREADLOG_FERRETDB_BACKEND postgresql | sqlite             (default: postgresql, see infra/README.md)
#   THREADLOG_PG_PORT          PostgreSQL for the postgresql backend (default: 15432)
#   THREADLOG_PG_POOL          FerretDB→PostgreSQL pool size   (default: 600; > largest bulk batch)
#   THREADLOG_REDIS_PORT       Redis listener                  (default: 16379)
#
# `up|down|status|reset --cluster`: the cluster mode instead (3 Kafka brokers + a Redis
# Cluster, infra/cluster.sh, with this stack's FerretDB); see infra/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${THREADLOG_LOCAL_DIR:-$ROOT/.local}
KAFKA_PORT=${THREADLOG_KAFKA_PORT:-19092}
KAFKA_CTRL_PORT=${THREADLOG_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_VERSION=${THREADLOG_KAFKA_VERSION:-4.1.1}
KAFKA_HEAP=${THREADLOG_KAFKA_HEAP:-512m}
MONGO_PORT=${THREADLOG_MONGO_PORT:-27018}
FERRET_BACKEND=${THREADLOG_FERRETDB_BACKEND:-postgresql}
PG_PORT=${THREADLOG_PG_PORT:-15432}
# FerretDB's pool towards PostgreSQL (its default, 50, deadlocks a bulkWrite of more than ~50
# upserts that match existing documents: see infra/README.md). Must exceed our largest batch.
PG_POOL=${THREADLOG_PG_POOL:-600}
REDIS_PORT=${THREADLOG_REDIS_PORT:-16379}
FERRETDB_VERSION=v1.24.2

RUN=$LOCAL/run
LOGS=$LOCAL/logs
DATA=$LOCAL/data
mkdir -p "$RUN" "$LOGS" "$DATA" "$LOCAL/bin"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { # name
  local f=$RUN/$1.pid
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

wait_for() { # name seconds logfile command...
  local name=$1 secs=$2 logfile=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if ! pid_alive "$name"; then
      tail -n 30 "$logfile" >&2 || true
      die "$name exited during start-up; see its log: $logfile"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$logfile" >&2 || true
      die "$name did not become ready within ${secs}s; see its log: $logfile"
    fi
    sleep 0.3
  done
}

spawn() { # name logfile command... — detached, survives the calling shell
  local name=$1 logfile=$2; shift 2
  printf '\n==== %s start %s ====\n' "$name" "$(date -Is)" >>"$logfile"
  # 9>&-: the server must not inherit the stack lock, or it would hold it for its lifetime
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/$name.pid"
}

stop() { # name
  local f=$RUN/$1.pid
  if pid_alive "$1"; then
    local pid; pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------- Kafka
kafka_lib() { echo "$LOCAL/kafka/lib-$KAFKA_VERSION"; }

install_kafka() {
  local lib; lib=$(kafka_lib)
  [[ -f $lib/.complete ]] && return 0
  command -v java >/dev/null || die "java not found: install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  log "resolving Kafka $KAFKA_VERSION jars from Maven Central (first start only)…"
  rm -rf "$lib"
  mvn -q -B -f "$ROOT/infra/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$lib" -DincludeScope=runtime \
    >"$LOGS/kafka-mvn.log" 2>&1 || die "Maven could not resolve Kafka; see $LOGS/kafka-mvn.log"
  touch "$lib/.complete"
}

kafka_config() {
  local dir=$DATA/kafka-$KAFKA_VERSION
  local conf=$LOCAL/kafka/server-$KAFKA_VERSION.properties
  mkdir -p "$dir"
  cat >"$conf" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CTRL_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir
# One node: every internal topic must have replication factor 1, or consumer groups never
# find a coordinator and transactional/idempotent producers never initialise.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=1
num.network.threads=2
num.io.threads=4
log.retention.ms=-1
# Tests create and delete many topics; let deletes finish promptly.
delete.topic.enable=true
EOF
  echo "$conf"
}

start_kafka() {
  if pid_alive kafka && port_open "$KAFKA_PORT"; then log "kafka already running"; return 0; fi
  stop kafka
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process; set THREADLOG_KAFKA_PORT"
  install_kafka
  local lib conf dir logfile=$LOGS/kafka.log
  lib=$(kafka_lib); conf=$(kafka_config); dir=$DATA/kafka-$KAFKA_VERSION
  local cp="$lib/*"
  local jvm=(java "-Xms256m" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$ROOT/infra/kafka/log4j2.xml"
    "-Dkafka.logs.dir=$LOGS" -cp "$cp")
  if [[ ! -f $dir/meta.properties ]]; then
    local id; id=$("${jvm[@]}" kafka.tools.StorageTool random-uuid 2>>"$logfile" | tail -n 1)
    log "formatting Kafka storage (cluster $id)"
    # --cluster-id=: an id may start with '-', which `-t <id>` would parse as an option
    "${jvm[@]}" kafka.tools.StorageTool format --cluster-id="$id" -c "$conf" >>"$logfile" 2>&1 \
      || die "kafka storage format failed; see $logfile"
  fi
  log "starting kafka $KAFKA_VERSION"
  spawn kafka "$logfile" "${jvm[@]}" kafka.Kafka "$conf"
  wait_for kafka 120 "$logfile" port_open "$KAFKA_PORT"
}

# ---------------------------------------------------------------- FerretDB
install_ferretdb() {
  local bin=$LOCAL/bin/ferretdb-$FERRETDB_VERSION
  [[ -x $bin ]] && return 0
  command -v go >/dev/null || die "go not found: install Go 1.22+ to build FerretDB"
  log "building FerretDB $FERRETDB_VERSION through the Go module proxy (first start only)…"
  local src=$LOCAL/build/ferretdb-$FERRETDB_VERSION
  local mod
  mod=$(cd "$ROOT/infra" && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') || die "go mod download of FerretDB failed"
  [[ -n $mod && -d $mod ]] || die "go mod download of FerretDB gave no source folder"
  rm -rf "$src"; mkdir -p "$(dirname "$src")"
  cp -r "$mod" "$src"; chmod -R u+w "$src"
  # The module zip lacks build/version/version.txt; without it the binary panics at start.
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  (cd "$src" && go build -trimpath -o "$bin.tmp" ./cmd/ferretdb) >"$LOGS/ferretdb-build.log" 2>&1 \
    || die "FerretDB build failed; see $LOGS/ferretdb-build.log"
  mv "$bin.tmp" "$bin"
}

start_postgres() {
  local pgbin; pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z $pgbin && $(id -u) == 0 ]]; then
    log "installing PostgreSQL from Debian (first start only)…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
      >"$LOGS/postgres-apt.log" 2>&1 || die "apt-get install postgresql failed; see $LOGS/postgres-apt.log"
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  [[ -n $pgbin ]] || die "PostgreSQL not found: sudo apt-get install postgresql (or THREADLOG_FERRETDB_BACKEND=sqlite)"
  local dir=$DATA/postgres logfile=$LOGS/postgres.log
  if [[ ! -f $dir/PG_VERSION ]]; then
    mkdir -p "$dir"; chown -R postgres:postgres "$dir" 2>/dev/null || true
    runas_pg "$pgbin/initdb" -D "$dir" -U postgres --auth=trust >>"$logfile" 2>&1 || die "initdb failed; see $logfile"
  fi
  if port_open "$PG_PORT"; then
    # Only reuse a server on PG_PORT if it is ours (a previous `up`), never someone else's.
    [[ -f $dir/postmaster.pid ]] && [[ $(sed -n 4p "$dir/postmaster.pid") == "$PG_PORT" ]] \
      || die "port $PG_PORT is taken by another process; set THREADLOG_PG_PORT"
  else
    touch "$logfile"; chown postgres "$logfile" 2>/dev/null || true
    # max_connections: FerretDB 1.24 holds one pooled connection per update of a multi-update
    # command until the command ends; see PG_POOL below and infra/README.md.
    runas_pg "$pgbin/pg_ctl" -D "$dir" -l "$logfile" -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=$((PG_POOL + 50))" -w start >/dev/null \
      || die "PostgreSQL did not start; see $logfile"
  fi
  local deadline=$((SECONDS + 30))
  # -U postgres: without it pg_isready connects as root and the log fills with FATAL lines.
  until "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; do
    ((SECONDS < deadline)) || die "PostgreSQL not ready; see $logfile"; sleep 0.3
  done
  "$pgbin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "select 1 from pg_database where datname='ferretdb'" | grep -q 1 \
    || "$pgbin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "create database ferretdb" >/dev/null
  # an index that serves FerretDB's `_id` lookups (see the file for why)
  "$pgbin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ferretdb -v ON_ERROR_STOP=1 \
    -f "$ROOT/infra/postgres/ferretdb-id-index.sql" >/dev/null || die "could not install the _id index trigger in PostgreSQL"
}

runas_pg() { if [[ $(id -u) == 0 ]]; then su postgres -s /bin/sh -c "$(printf '%q ' "$@")" 9>&-; else "$@" 9>&-; fi; }

start_ferretdb() {
  if pid_alive ferretdb && port_open "$MONGO_PORT"; then log "ferretdb already running"; return 0; fi
  stop ferretdb
  port_open "$MONGO_PORT" && die "port $MONGO_PORT is taken by another process; set THREADLOG_MONGO_PORT"
  install_ferretdb
  local logfile=$LOGS/ferretdb.log state=$DATA/ferretdb-state
  mkdir -p "$state"
  local args=(--listen-addr="127.0.0.1:$MONGO_PORT" --state-dir="$state" --telemetry=disable
    --debug-addr=- --log-level=warn --handler="$FERRET_BACKEND")
  case $FERRET_BACKEND in
    sqlite) mkdir -p "$DATA/ferretdb-sqlite"; args+=(--sqlite-url="file:$DATA/ferretdb-sqlite/") ;;
    postgresql) start_postgres
      args+=(--postgresql-url="postgres://postgres@127.0.0.1:$PG_PORT/ferretdb?pool_max_conns=$PG_POOL") ;;
    *) die "THREADLOG_FERRETDB_BACKEND must be sqlite or postgresql, not '$FERRET_BACKEND'" ;;
  esac
  log "starting ferretdb $FERRETDB_VERSION ($FERRET_BACKEND backend)"
  spawn ferretdb "$logfile" "$LOCAL/bin/ferretdb-$FERRETDB_VERSION" "${args[@]}"
  echo "$FERRET_BACKEND" >"$RUN/ferretdb.backend" # `status` reports what runs, not the default
  wait_for ferretdb 60 "$logfile" port_open "$MONGO_PORT"
}

# ---------------------------------------------------------------- Redis
install_redis() {
  command -v redis-server >/dev/null && return 0
  [[ $(id -u) == 0 ]] || die "redis-server not found: run 'sudo apt-get install redis-server'"
  log "installing redis-server from Debian (first start only)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) \
    >"$LOGS/redis-apt.log" 2>&1 || die "apt-get install redis-server failed; see $LOGS/redis-apt.log"
}

start_redis() {
  if pid_alive redis && port_open "$REDIS_PORT"; then log "redis already running"; return 0; fi
  stop redis
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by another process; set THREADLOG_REDIS_PORT"
  install_redis
  local logfile=$LOGS/redis.log
  mkdir -p "$DATA/redis"
  log "starting redis"
  # A cache: no persistence, so a restart starts cold, which the SDK must tolerate anyway. A
  # dump.rdb left by an explicit SAVE (test/store/erasure-on-disk.int.test.ts forces one) would be
  # loaded at start and bring back older heads and watermarks than the projection's: removed.
  rm -f "$DATA/redis/dump.rdb"
  spawn redis "$logfile" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA/redis" \
    --save "" --appendonly no --daemonize no --protected-mode yes
  wait_for redis 30 "$logfile" port_open "$REDIS_PORT"
}

# ---------------------------------------------------------------- commands
summary() {
  local k="stopped" f="stopped" r="stopped"
  pid_alive kafka && port_open "$KAFKA_PORT" && k="running"
  local fb=$FERRET_BACKEND
  pid_alive ferretdb && port_open "$MONGO_PORT" && f="running" && fb=$(cat "$RUN/ferretdb.backend" 2>/dev/null \
    || tr '\0' '\n' <"/proc/$(cat "$RUN/ferretdb.pid")/cmdline" 2>/dev/null | sed -n 's/^--handler=//p')
  pid_alive redis && port_open "$REDIS_PORT" && r="running"
  printf 'kafka     %-8s 127.0.0.1:%s   log: %s\n' "$k" "$KAFKA_PORT" "$LOGS/kafka.log"
  printf 'ferretdb  %-8s mongodb://127.0.0.1:%s/ (%s)   log: %s\n' "$f" "$MONGO_PORT" "$fb" "$LOGS/ferretdb.log"
  printf 'redis     %-8s redis://127.0.0.1:%s   log: %s\n' "$r" "$REDIS_PORT" "$LOGS/redis.log"
}

# Test runs in parallel may call `up` at the same moment: one at a time, or both would start
# a server, one would lose the port and its pid file would name the wrong process.
exec 9>"$RUN/stack.lock"
flock 9

stop_all() {
  stop kafka; stop ferretdb; stop redis
  if [[ -f $DATA/postgres/postmaster.pid ]]; then
    local pgbin; pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    runas_pg "$pgbin/pg_ctl" -D "$DATA/postgres" stop -m fast >/dev/null 2>&1 || true
  fi
}

if [[ ${2:-} == --cluster ]]; then
  case $1 in
    up) start_ferretdb; bash "$ROOT/infra/cluster.sh" up ;;
    down | status | reset) bash "$ROOT/infra/cluster.sh" "$1" ;;
    *) die "usage: stack.sh up|down|status|reset [--cluster]" ;;
  esac
  exit 0
fi

case ${1:-up} in
  up)
    start_redis
    start_ferretdb
    start_kafka
    summary
    ;;
  down) stop_all ;;
  status) summary ;;
  reset) # stop everything and delete the data (not the cached builds)
    stop_all; rm -rf "$DATA"; log "data deleted: $DATA"
    ;;
  *) die "usage: stack.sh up|down|status|reset" ;;
esac
