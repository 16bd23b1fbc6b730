#!/usr/bin/env bash
# The local cluster mode: three Kafka brokers (KRaft, combined broker+controller nodes, a
# 3-voter quorum, from the same Maven Central jars as infra/stack.sh) and a Redis Cluster of
# 3 masters + 3 replicas (Debian's redis-server, `cluster-enabled yes`). Everything on
# loopback, ports from the variables below, data under THREADLOG_LOCAL_DIR. MongoDB is the
# single-node stack's FerretDB: `infra/stack.sh up --cluster` starts it and then this script.
#
#   cluster.sh up       start what is not running (idempotent), form the Redis Cluster once,
#                       create the checkpoints topic (replication factor 3, min.insync.replicas 2)
#   cluster.sh down     stop every node; Redis Cluster state is dropped (a cache), Kafka data kept
#   cluster.sh status   what runs, each node's role
#   cluster.sh reset    down, then delete the cluster's data (Kafka logs too)
#   cluster.sh env      the THREADLOG_* variables that point the CLI and tests at the cluster
#
# Environment (all optional; defaults in 21000-22999, below Linux' ephemeral range 32768-60999,
# where an outgoing connection can hold a port a server then cannot bind; see infra/README.md):
#   THREADLOG_LOCAL_DIR                       cache + data root            (default: <repo>/.local)
#   THREADLOG_CLUSTER_KAFKA_PORTS             client listeners, 3 ports    (default: 21092,21093,21094)
#   THREADLOG_CLUSTER_KAFKA_CONTROLLER_PORTS  KRaft controller listeners   (default: 21192,21193,21194)
#   THREADLOG_CLUSTER_KAFKA_HEAP              JVM heap per broker          (default: 320m)
#   THREADLOG_CLUSTER_REDIS_PORTS             6 ports: 3 masters, 3 replicas (default: 21301..21306)
#   THREADLOG_CLUSTER_REDIS_BUS_PORTS         their cluster bus ports, 6   (default: 22301..22306;
#                                             Redis' own default, port + 10000, lands in Linux's
#                                             ephemeral range, where a client connection can hold it)
#   THREADLOG_CLUSTER_REDIS_NODE_TIMEOUT_MS   cluster-node-timeout: how long a silent master
#                                             lives before its replica takes over (default: 3000)
#   THREADLOG_KAFKA_VERSION                   Kafka jars (default: 4.1.1, as infra/stack.sh)
#   THREADLOG_TOPIC_PREFIX / THREADLOG_PARTITIONS  the checkpoints topic up creates (threadlog / 12)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${THREADLOG_LOCAL_DIR:-$ROOT/.local}
IFS=, read -r -a KAFKA_PORTS <<<"${THREADLOG_CLUSTER_KAFKA_PORTS:-21092,21093,21094}"
IFS=, read -r -a CTRL_PORTS <<<"${THREADLOG_CLUSTER_KAFKA_CONTROLLER_PORTS:-21192,21193,21194}"
IFS=, read -r -a REDIS_PORTS <<<"${THREADLOG_CLUSTER_REDIS_PORTS:-21301,21302,21303,21304,21305,21306}"
IFS=, read -r -a BUS_PORTS <<<"${THREADLOG_CLUSTER_REDIS_BUS_PORTS:-22301,22302,22303,22304,22305,22306}"
KAFKA_HEAP=${THREADLOG_CLUSTER_KAFKA_HEAP:-320m}
KAFKA_VERSION=${THREADLOG_KAFKA_VERSION:-4.1.1}
NODE_TIMEOUT=${THREADLOG_CLUSTER_REDIS_NODE_TIMEOUT_MS:-3000}
TOPIC_PREFIX=${THREADLOG_TOPIC_PREFIX:-threadlog}
PARTITIONS=${THREADLOG_PARTITIONS:-12}

RUN=$LOCAL/run
LOGS=$LOCAL/logs
DATA=$LOCAL/data/cluster
mkdir -p "$RUN" "$LOGS" "$DATA"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

((${#KAFKA_PORTS[@]} == 3 && ${#CTRL_PORTS[@]} == 3)) || die "THREADLOG_CLUSTER_KAFKA_PORTS and _CONTROLLER_PORTS need 3 ports each"
((${#REDIS_PORTS[@]} == 6)) || die "THREADLOG_CLUSTER_REDIS_PORTS needs 6 ports (3 masters + 3 replicas)"
((${#BUS_PORTS[@]} == 6)) || die "THREADLOG_CLUSTER_REDIS_BUS_PORTS needs 6 ports (one per Redis node)"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { local f=$RUN/$1.pid; [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null; }

spawn() { # name logfile command... — detached, survives the calling shell
  local name=$1 logfile=$2; shift 2
  printf '\n==== %s start %s ====\n' "$name" "$(date -Is)" >>"$logfile"
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/$name.pid"
}

stop() { # name
  local f=$RUN/$1.pid
  if pid_alive "$1"; then
    local pid; pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}

# Ports set inside Linux' ephemeral range (32768-60999) can be held by a client socket elsewhere
# on the machine (the defaults are below it: two CI runs failed on a default Redis port there), and
# a server started then dies with "Address already in use". So a node that exits during start-up
# is started again, a few times, before giving up.
wait_started() { # name seconds ready-command... ; the node's start command is in START_CMD_<name>
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs)) attempts=0
  until "$@" 2>/dev/null; do
    if ! pid_alive "$name"; then
      attempts=$((attempts + 1))
      ((attempts <= 8)) || die "$name keeps exiting during start-up; see $LOGS/$name.log"
      log "$name exited during start-up (port briefly taken?); starting it again ($attempts)"
      sleep 1
      "restart_$(echo "$name" | cut -d- -f2)" "$name"
    fi
    ((SECONDS < deadline)) || die "$name not ready within ${secs}s; see $LOGS/$name.log"
    sleep 0.3
  done
}

wait_until() { # what seconds command...
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" 2>/dev/null; do
    ((SECONDS < deadline)) || die "$what not ready within ${secs}s; see the logs under $LOGS"
    sleep 0.3
  done
}

# ---------------------------------------------------------------- Kafka
kafka_lib() { echo "$LOCAL/kafka/lib-$KAFKA_VERSION"; }

JVM=()
kafka_jvm() { # sets JVM
  # C1 only and the serial collector: three JVMs on two cores start (and restart, in the
  # failure tests) in half the time, at a throughput a test cluster does not miss
  JVM=(java -Xms128m "-Xmx$KAFKA_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$ROOT/infra/kafka/log4j2.xml" "-Dkafka.logs.dir=$LOGS" -cp "$(kafka_lib)/*")
}

install_kafka() {
  [[ -f $(kafka_lib)/.complete ]] && return 0
  # the single-node stack resolves the same jars; let it do so (Maven, first start only)
  log "Kafka $KAFKA_VERSION jars missing: resolving them through infra/stack.sh's installer"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  local lib; lib=$(kafka_lib)
  rm -rf "$lib"
  mvn -q -B -f "$ROOT/infra/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$lib" -DincludeScope=runtime \
    >"$LOGS/kafka-mvn.log" 2>&1 || die "Maven could not resolve Kafka; see $LOGS/kafka-mvn.log"
  touch "$lib/.complete"
}

voters() {
  local v=() i
  for i in 0 1 2; do v+=("$((i + 1))@127.0.0.1:${CTRL_PORTS[$i]}"); done
  (IFS=,; echo "${v[*]}")
}

kafka_config() { # index
  local i=$1 id=$(($1 + 1))
  local dir=$DATA/kafka-$id conf=$DATA/kafka-$id.properties
  mkdir -p "$dir"
  cat >"$conf" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORTS[$i]},CONTROLLER://127.0.0.1:${CTRL_PORTS[$i]}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORTS[$i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir
# Three nodes: every topic (internal ones too) is written to 3 replicas and an acks=all write
# needs 2 of them in sync, so one broker can die without losing or refusing acknowledged data.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=1
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
log.retention.ms=-1
delete.topic.enable=true
EOF
  echo "$conf"
}

kafka_up() { # index — succeeds once the broker answers on its client port
  port_open "${KAFKA_PORTS[$1]}"
}

start_kafka_node() { # index
  local i=$1 id=$(($1 + 1)) name="cluster-kafka-$(($1 + 1))"
  if pid_alive "$name" && kafka_up "$i"; then return 0; fi
  if pid_alive "$name"; then return 0; fi # started, still opening its port
  rm -f "$RUN/$name.pid"
  port_open "${KAFKA_PORTS[$i]}" && die "port ${KAFKA_PORTS[$i]} is taken by another process; set THREADLOG_CLUSTER_KAFKA_PORTS"
  port_open "${CTRL_PORTS[$i]}" && die "port ${CTRL_PORTS[$i]} is taken by another process; set THREADLOG_CLUSTER_KAFKA_CONTROLLER_PORTS"
  local conf logfile=$LOGS/$name.log
  conf=$(kafka_config "$i")
  kafka_jvm
  local jvm=("${JVM[@]}")
  if [[ ! -f $DATA/kafka-$id/meta.properties ]]; then
    [[ -f $DATA/kafka.cluster-id ]] || "${jvm[@]}" kafka.tools.StorageTool random-uuid 2>>"$logfile" | tail -n 1 >"$DATA/kafka.cluster-id"
    "${jvm[@]}" kafka.tools.StorageTool format --cluster-id="$(cat "$DATA/kafka.cluster-id")" -c "$conf" >>"$logfile" 2>&1 \
      || die "kafka storage format of node $id failed; see $logfile"
  fi
  log "starting kafka node $id on 127.0.0.1:${KAFKA_PORTS[$i]}"
  spawn "$name" "$logfile" "${jvm[@]}" kafka.Kafka "$conf"
}

start_kafka() {
  command -v java >/dev/null || die "java not found: install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
  install_kafka
  local i
  # all three at once: a quorum of one cannot elect a controller, so none would get ready alone
  for i in 0 1 2; do start_kafka_node "$i"; done
  for i in 0 1 2; do wait_started "cluster-kafka-$((i + 1))" 180 kafka_up "$i"; done
}

create_topic() {
  # through the library's own provisioning (kafkajs), with the settings the cluster mode promises
  log "checkpoints topic ${TOPIC_PREFIX}.checkpoints: $PARTITIONS partitions, replication factor 3, min.insync.replicas 2"
  (cd "$ROOT" && THREADLOG_KAFKA_BROKERS=$(kafka_brokers) node --import tsx infra/cluster-topic.ts "$TOPIC_PREFIX" "$PARTITIONS") \
    >>"$LOGS/cluster-topic.log" 2>&1 || die "could not create the checkpoints topic; see $LOGS/cluster-topic.log"
}

kafka_brokers() {
  local b=() p
  for p in "${KAFKA_PORTS[@]}"; do b+=("127.0.0.1:$p"); done
  (IFS=,; echo "${b[*]}")
}

restart_kafka() { # cluster-kafka-<n>
  local n=${1##*-}
  rm -f "$RUN/$1.pid"
  start_kafka_node "$((n - 1))"
}

# ---------------------------------------------------------------- Redis Cluster
redis_nodes() {
  local n=() p
  for p in "${REDIS_PORTS[@]}"; do n+=("127.0.0.1:$p"); done
  (IFS=,; echo "${n[*]}")
}

start_redis_node() { # port
  local port=$1 name="cluster-redis-$1"
  if pid_alive "$name" && port_open "$port"; then return 0; fi
  rm -f "$RUN/$name.pid"
  port_open "$port" && die "port $port is taken by another process; set THREADLOG_CLUSTER_REDIS_PORTS"
  command -v redis-server >/dev/null || die "redis-server not found: run 'sudo apt-get install redis-server' (or infra/stack.sh up once)"
  local dir=$DATA/redis-$port bus="" i
  for i in "${!REDIS_PORTS[@]}"; do [[ ${REDIS_PORTS[$i]} == "$port" ]] && bus=${BUS_PORTS[$i]}; done
  [[ -n $bus ]] || die "no cluster bus port for Redis port $port"
  port_open "$bus" && die "cluster bus port $bus (of Redis $port) is taken by another process; set THREADLOG_CLUSTER_REDIS_BUS_PORTS"
  mkdir -p "$dir"
  # A cache: no persistence. nodes-<port>.conf (the cluster's view) is kept across restarts,
  # so a node killed and started again rejoins its cluster (as a replica if it was replaced).
  spawn "$name" "$LOGS/$name.log" redis-server --bind 127.0.0.1 --port "$port" --cluster-port "$bus" --dir "$dir" \
    --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout "$NODE_TIMEOUT" \
    --save "" --appendonly no --daemonize no --protected-mode yes
}

restart_redis() { # cluster-redis-<port>
  rm -f "$RUN/$1.pid"
  start_redis_node "${1##*-}"
}

cluster_ok() { # every node: the cluster is formed and serves all slots
  local p
  for p in "${REDIS_PORTS[@]}"; do
    redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

formed() { # the first node knows all six
  [[ $(redis-cli -p "${REDIS_PORTS[0]}" cluster info 2>/dev/null | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p') == 6 ]]
}

start_redis() {
  local p
  for p in "${REDIS_PORTS[@]}"; do start_redis_node "$p"; done
  for p in "${REDIS_PORTS[@]}"; do wait_started "cluster-redis-$p" 30 port_open "$p"; done
  if ! formed; then
    # never formed (or dropped by `down`): every node must be empty for --cluster create
    log "forming the Redis Cluster: 3 masters + 3 replicas"
    local addrs=() 
    for p in "${REDIS_PORTS[@]}"; do addrs+=("127.0.0.1:$p"); redis-cli -p "$p" cluster reset hard >/dev/null 2>&1 || true; done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >>"$LOGS/cluster-redis-create.log" 2>&1 \
      || die "redis-cli --cluster create failed; see $LOGS/cluster-redis-create.log"
  fi
  wait_until "the Redis Cluster (cluster_state:ok on every node)" 60 cluster_ok
}

# ---------------------------------------------------------------- commands
summary() {
  local i p name state role
  for i in 0 1 2; do
    name="cluster-kafka-$((i + 1))"; state=stopped
    pid_alive "$name" && kafka_up "$i" && state=running
    printf 'kafka node %d   %-8s 127.0.0.1:%s (controller :%s)   log: %s\n' "$((i + 1))" "$state" "${KAFKA_PORTS[$i]}" "${CTRL_PORTS[$i]}" "$LOGS/$name.log"
  done
  for p in "${REDIS_PORTS[@]}"; do
    name="cluster-redis-$p"; state=stopped; role=""
    if pid_alive "$name" && port_open "$p"; then
      state=running
      role=$(redis-cli -p "$p" info replication 2>/dev/null | sed -n 's/^role:\(.*\)\r*$/\1/p' | tr -d '\r')
    fi
    printf 'redis %s  %-8s %-7s log: %s\n' "$p" "$state" "$role" "$LOGS/$name.log"
  done
  if cluster_ok; then echo "redis cluster  ok (all 16384 slots served)"; else echo "redis cluster  not ok"; fi
}

print_env() {
  echo "export THREADLOG_KAFKA_BROKERS=$(kafka_brokers)"
  echo "export THREADLOG_REDIS_CLUSTER_NODES=$(redis_nodes)"
}

stop_all() {
  local i p
  for p in "${REDIS_PORTS[@]}"; do stop "cluster-redis-$p"; done
  # the Redis Cluster is a cache: its next `up` forms a fresh one
  for p in "${REDIS_PORTS[@]}"; do rm -rf "$DATA/redis-$p"; done
  for i in 2 1 0; do stop "cluster-kafka-$((i + 1))"; done
}

# One `up`/`down` at a time (tests call `up` to bring a killed node back).
exec 9>"$RUN/cluster.lock"
flock 9

case ${1:-up} in
  up)
    start_redis
    start_kafka
    create_topic
    summary
    ;;
  down) stop_all ;;
  status) summary ;;
  env) print_env ;;
  reset) stop_all; rm -rf "$DATA"; log "cluster data deleted: $DATA" ;;
  *) die "usage: cluster.sh up|down|status|env|reset" ;;
esac
