#!/usr/bin/env bash
# The real Apache Kafka broker in KRaft mode, run from the jars Maven resolves through
# deploy/kafka/pom.xml: one combined broker+controller node, or (KAFKA_NODES=3) a cluster of three.
#
#   deploy/kafka/kafka.sh fetch      resolve the broker jars into $KAFKA_LIBS (cached)
#   deploy/kafka/kafka.sh start      fetch, format storage on first start, start every node, wait until healthy
#   deploy/kafka/kafka.sh stop       stop every node cleanly (SIGTERM, then SIGKILL after 30 s)
#   deploy/kafka/kafka.sh status     exit 0 when every node is up
#   deploy/kafka/kafka.sh kill N     SIGKILL node N (1..KAFKA_NODES) for good: a crashed broker
#   deploy/kafka/kafka.sh bootstrap  print the bootstrap list (host:port,host:port,...)
#   deploy/kafka/kafka.sh env        print the settings tallystream's roles need for these nodes, e.g.
#                                    eval "$(KAFKA_NODES=3 deploy/kafka/kafka.sh env)": TALLY_KAFKA_BOOTSTRAP
#                                    (every node), TALLY_KAFKA_REPLICATION_FACTOR and
#                                    TALLY_KAFKA_MIN_INSYNC_REPLICAS (1 and 1 for one node, 3 and 2 for three)
#
# Settings (environment): TALLY_VAR (default ./var), KAFKA_LIBS (default <repo>/var/kafka-libs,
# shared by every TALLY_VAR), KAFKA_NODES (1), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_HEAP (512m for one node, 384m each for a cluster), KAFKA_START_TIMEOUT seconds (90).
# A cluster's node i listens on KAFKA_PORT+2(i-1) and KAFKA_CONTROLLER_PORT+2(i-1) (9092/9093,
# 9094/9095, 9096/9097) unless KAFKA_PORTS and KAFKA_CONTROLLER_PORTS list them (comma-separated),
# and keeps its data under $TALLY_VAR/kafka/node-i. Every node is a broker and a KRaft controller:
# the cluster keeps working (metadata and acks=all writes with min.insync.replicas=2) without one.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
var="$(mkdir -p "${TALLY_VAR:-var}" && cd "${TALLY_VAR:-var}" && pwd)"
base="$var/kafka"
libs="${KAFKA_LIBS:-$here/../../var/kafka-libs}"
nodes="${KAFKA_NODES:-1}"

log() { printf '[kafka] %s\n' "$*" >&2; }

if ! [[ "$nodes" =~ ^[1-9]$ ]]; then
  log "KAFKA_NODES must be 1..9, got '$nodes'"
  exit 2
fi

# Ports, one per node: explicit lists, else every other port from KAFKA_PORT / KAFKA_CONTROLLER_PORT.
ports=() cports=()
if [[ -n "${KAFKA_PORTS:-}" ]]; then IFS=, read -r -a ports <<< "$KAFKA_PORTS"; fi
if [[ -n "${KAFKA_CONTROLLER_PORTS:-}" ]]; then IFS=, read -r -a cports <<< "$KAFKA_CONTROLLER_PORTS"; fi
for (( i = ${#ports[@]}; i < nodes; i++ )); do ports+=( $(( ${KAFKA_PORT:-9092} + 2 * i )) ); done
for (( i = ${#cports[@]}; i < nodes; i++ )); do cports+=( $(( ${KAFKA_CONTROLLER_PORT:-9093} + 2 * i )) ); done

# A single node keeps its historical layout ($TALLY_VAR/kafka); cluster node i lives in kafka/node-i.
home_of() { if (( nodes == 1 )); then echo "$base"; else echo "$base/node-$1"; fi; }
port_of() { echo "${ports[$(( $1 - 1 ))]}"; }
cport_of() { echo "${cports[$(( $1 - 1 ))]}"; }

fetch() {
  local stamp="$libs/.pom.sha"
  local want
  want="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  log "resolving the broker from Maven Central (cached in ~/.m2 after the first run)"
  rm -rf "$libs" && mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >&2
  echo "$want" > "$stamp"
}

if (( nodes == 1 )); then default_heap=512m; else default_heap=384m; fi
# The broker logs at INFO to its log file; the storage tool only warns, on stderr.
broker_java() {
  broker_cmd=(java -Xms128m -Xmx"${KAFKA_HEAP:-$default_heap}" -XX:+UseG1GC
    -Dlog4j.configuration="file:$here/log4j.properties" -Dkafka.logs.dir="$1/logs" -cp "$libs/*")
}
tool_java=(java -Xmx256m -Dlog4j.configuration="file:$here/log4j-tools.properties" -cp "$libs/*")

# As many copies as nodes, up to 3; one may be missing once there are three (tenancy.replication
# for_local_cluster applies the same rule to tallystream's topics).
replication_factor() { echo $(( nodes < 3 ? nodes : 3 )); }
min_insync() { echo $(( nodes < 3 ? 1 : 2 )); }

write_config() {
  local node="$1" home voters="" i
  home="$(home_of "$node")"
  for (( i = 1; i <= nodes; i++ )); do voters+="${voters:+,}$i@127.0.0.1:$(cport_of "$i")"; done
  local rf isr
  rf="$(replication_factor)" isr="$(min_insync)"
  mkdir -p "$home/data" "$home/logs"
  cat > "$home/server.properties" <<CONF
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(port_of "$node"),CONTROLLER://127.0.0.1:$(cport_of "$node")
advertised.listeners=PLAINTEXT://127.0.0.1:$(port_of "$node")
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$home/data
num.partitions=6
auto.create.topics.enable=false
default.replication.factor=$rf
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=268435456
CONF
}

running_pid() {
  local pidfile
  pidfile="$(home_of "$1")/kafka.pid"
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started() { grep -q "Kafka Server started" "$(home_of "$1")/kafka.out" 2>/dev/null && port_open "$(port_of "$1")"; }

bootstrap() {
  local out="" i
  for (( i = 1; i <= nodes; i++ )); do out+="${out:+,}127.0.0.1:$(port_of "$i")"; done
  echo "$out"
}

print_env() {
  echo "export TALLY_KAFKA_BOOTSTRAP=$(bootstrap)"
  echo "export TALLY_KAFKA_REPLICATION_FACTOR=$(replication_factor)"
  echo "export TALLY_KAFKA_MIN_INSYNC_REPLICAS=$(min_insync)"
}

format_storage() {
  local id_file="$base/cluster.id" cluster_id node home
  mkdir -p "$base"
  if [[ ! -f "$id_file" ]]; then
    "${tool_java[@]}" kafka.tools.StorageTool random-uuid > "$id_file"
  fi
  cluster_id="$(cat "$id_file")"
  for (( node = 1; node <= nodes; node++ )); do
    home="$(home_of "$node")"
    if [[ ! -f "$home/data/meta.properties" ]]; then
      log "formatting KRaft storage of node $node (cluster $cluster_id)"
      "${tool_java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$home/server.properties" >&2
    fi
  done
}

start() {
  local node pid home todo=()
  for (( node = 1; node <= nodes; node++ )); do
    if pid="$(running_pid "$node")"; then
      log "node $node already running (pid $pid) on 127.0.0.1:$(port_of "$node")"
    elif port_open "$(port_of "$node")" || port_open "$(cport_of "$node")"; then
      log "port $(port_of "$node") or $(cport_of "$node") is taken by another process; set KAFKA_PORT(S)"
      return 1
    else
      todo+=("$node")
    fi
  done
  (( ${#todo[@]} )) || return 0
  fetch
  for node in "${todo[@]}"; do write_config "$node"; done
  format_storage
  # every node at once: a controller quorum needs a majority of its voters up to elect a leader
  for node in "${todo[@]}"; do
    home="$(home_of "$node")"
    log "starting node $node on 127.0.0.1:$(port_of "$node")"
    broker_java "$home"
    nohup "${broker_cmd[@]}" kafka.Kafka "$home/server.properties" > "$home/kafka.out" 2>&1 < /dev/null &
    echo $! > "$home/kafka.pid"
  done
  local deadline=$(( SECONDS + ${KAFKA_START_TIMEOUT:-90} ))
  for node in "${todo[@]}"; do
    home="$(home_of "$node")"
    until started "$node"; do
      if ! running_pid "$node" >/dev/null; then
        log "node $node exited during start; last lines of $home/kafka.out:"
        tail -n 30 "$home/kafka.out" >&2
        stop
        return 1
      fi
      if (( SECONDS > deadline )); then
        log "node $node not healthy after ${KAFKA_START_TIMEOUT:-90}s; see $home/kafka.out"
        stop
        return 1
      fi
      sleep 0.5
    done
    log "node $node healthy (pid $(cat "$home/kafka.pid"))"
  done
}

stop_node() {
  local node="$1" pid pidfile
  pidfile="$(home_of "$node")/kafka.pid"
  if ! pid="$(running_pid "$node")"; then
    rm -f "$pidfile"
    return 0
  fi
  log "stopping node $node (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "node $node stopped"; return 0; }
    sleep 0.5
  done
  log "node $node: no clean stop after 30s; killing"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

stop() {
  # in parallel: the last controllers standing would otherwise wait for a quorum that is leaving
  local node
  for (( node = 1; node <= nodes; node++ )); do stop_node "$node" & done
  wait
}

kill_node() {
  local node="${1:-}" pid
  if ! [[ "$node" =~ ^[0-9]+$ ]] || (( node < 1 || node > nodes )); then
    log "kill: node must be 1..$nodes, got '$node'"
    return 2
  fi
  if pid="$(running_pid "$node")"; then
    log "SIGKILL node $node (pid $pid)"
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$(home_of "$node")/kafka.pid"
}

status() {
  local node
  for (( node = 1; node <= nodes; node++ )); do
    running_pid "$node" >/dev/null && port_open "$(port_of "$node")" || return 1
  done
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) kill_node "${2:-}" ;;
  bootstrap) bootstrap ;;
  env) print_env ;;
  *) echo "usage: $0 fetch|start|stop|status|kill N|bootstrap|env" >&2; exit 2 ;;
esac
