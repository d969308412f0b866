#!/usr/bin/env bash
# The real Apache Kafka broker in KRaft mode (one combined broker+controller node), run from the
# jars Maven resolves through deploy/kafka/pom.xml.
#
#   deploy/kafka/kafka.sh fetch    resolve the broker jars into $KAFKA_LIBS (cached)
#   deploy/kafka/kafka.sh start    fetch, format storage on first start, start, wait until healthy
#   deploy/kafka/kafka.sh stop     stop the broker cleanly (SIGTERM, then SIGKILL after 30 s)
#   deploy/kafka/kafka.sh status   exit 0 when the broker is up
#
# Settings (environment): TALLY_VAR (default ./var), KAFKA_LIBS (default <repo>/var/kafka-libs,
# shared by every TALLY_VAR), KAFKA_PORT (9092),
# KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (512m), KAFKA_START_TIMEOUT seconds (90).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
var="$(mkdir -p "${TALLY_VAR:-var}" && cd "${TALLY_VAR:-var}" && pwd)"
home="$var/kafka"
libs="${KAFKA_LIBS:-$here/../../var/kafka-libs}"
data="$home/data"
conf="$home/server.properties"
pidfile="$home/kafka.pid"
logfile="$home/kafka.out"
port="${KAFKA_PORT:-9092}"
cport="${KAFKA_CONTROLLER_PORT:-9093}"

log() { printf '[kafka] %s\n' "$*" >&2; }

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

# The broker logs at INFO to its log file; the storage tool only warns, on stderr.
broker_java=(java -Xms128m -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC
  -Dlog4j.configuration="file:$here/log4j.properties" -Dkafka.logs.dir="$home/logs" -cp "$libs/*")
tool_java=(java -Xmx256m -Dlog4j.configuration="file:$here/log4j-tools.properties" -cp "$libs/*")

write_config() {
  mkdir -p "$data" "$home/logs"
  cat > "$conf" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=268435456
CONF
}

running_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  if port_open; then
    log "port $port is taken by another process; set KAFKA_PORT"
    return 1
  fi
  fetch
  write_config
  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("${tool_java[@]}" kafka.tools.StorageTool random-uuid)"
    log "formatting KRaft storage (cluster $cluster_id)"
    "${tool_java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" >&2
  fi
  log "starting on 127.0.0.1:$port"
  nohup "${broker_java[@]}" kafka.Kafka "$conf" > "$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  local deadline=$(( SECONDS + ${KAFKA_START_TIMEOUT:-90} ))
  until grep -q "Kafka Server started" "$logfile" 2>/dev/null && port_open; do
    if ! running_pid >/dev/null; then
      log "broker exited during start; last lines of $logfile:"
      tail -n 30 "$logfile" >&2
      return 1
    fi
    if (( SECONDS > deadline )); then
      log "broker not healthy after ${KAFKA_START_TIMEOUT:-90}s; see $logfile"
      stop
      return 1
    fi
    sleep 0.5
  done
  log "healthy (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$pidfile"
    return 0
  fi
  log "stopping (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "stopped"; return 0; }
    sleep 0.5
  done
  log "no clean stop after 30s; killing"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running_pid >/dev/null && port_open ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
