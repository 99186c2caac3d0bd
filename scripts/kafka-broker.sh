#!/usr/bin/env bash
# A real Kafka-protocol broker (tansu 0.6.0) on a free loopback port, for the
# tests, the benchmark and local runs with `kafka.enabled: true`.
#
#   scripts/kafka-broker.sh start [--dir DIR] [--storage memory|sqlite] [--port PORT]
#   scripts/kafka-broker.sh stop  [--dir DIR]
#
# start prints the broker's address (127.0.0.1:PORT) on stdout once the broker
# accepts connections; everything else goes to stderr. DIR (default
# ${TMPDIR:-/tmp}/smokewatch-kafka) holds broker.pid, broker.addr, broker.log
# and, with --storage sqlite, the data (tansu.db), so `stop` then `start` with
# the same --dir, --port and --storage sqlite gives the same broker back with
# its topics and records (what the broker-restart test does). memory storage
# (the default) forgets everything when the broker stops.
#
# tansu creates no topic by itself: smokewatch creates its topics at start.
# The tansu binary is reused when installed (scripts/test-deps.sh installs it);
# otherwise it is built once with cargo (about 9 minutes on 2 cores).
set -euo pipefail

TANSU_VERSION=0.6.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)

log() { printf '[kafka-broker] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

find_tansu() {
  local bin
  for bin in "$(command -v tansu || true)" "$HOME/.cargo/bin/tansu"; do
    if [ -n "$bin" ] && [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
      printf '%s\n' "$bin"
      return 0
    fi
  done
  return 1
}

ensure_tansu() {
  local bin
  if bin=$(find_tansu); then
    printf '%s\n' "$bin"
    return
  fi
  command -v cargo >/dev/null || die "tansu $TANSU_VERSION is not installed and cargo is not on PATH to build it (run scripts/test-deps.sh)"
  # One build per machine even when several tests start brokers at once.
  local lock="${TMPDIR:-/tmp}/smokewatch-tansu-install.lock"
  (
    flock 9
    if ! find_tansu >/dev/null; then
      log "building tansu $TANSU_VERSION (once per machine, about 9 minutes on 2 cores)"
      cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore,libsql >&2
    fi
  ) 9>"$lock"
  find_tansu || die "tansu $TANSU_VERSION is still missing after cargo install"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

accepts_connections() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start() {
  local dir=$1 storage=$2 port=$3 tansu engine pid attempt
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if alive "$dir/broker.pid"; then
    die "a broker is already running from $dir (pid $(cat "$dir/broker.pid")); stop it first"
  fi
  tansu=$(ensure_tansu)
  case "$storage" in
    memory) engine="memory://tansu/" ;;
    # tansu resolves the sqlite path against its working directory.
    sqlite) engine="sqlite://tansu.db" ;;
    *) die "--storage must be memory or sqlite, not '$storage'" ;;
  esac
  # A port picked free can be taken before tansu binds it; try a few.
  for attempt in 1 2 3 4 5; do
    local chosen=$port
    [ -n "$chosen" ] || chosen=$(free_port)
    (
      cd "$dir"
      exec "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$chosen" \
        --advertised-listener-url "tcp://127.0.0.1:$chosen" \
        --storage-engine "$engine" >>"$dir/broker.log" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$dir/broker.pid"
    local waited=0
    while [ $waited -lt 300 ]; do
      if ! kill -0 "$pid" 2>/dev/null; then
        break
      fi
      if accepts_connections "$chosen"; then
        echo "127.0.0.1:$chosen" >"$dir/broker.addr"
        log "tansu $TANSU_VERSION ($storage storage) pid $pid listening on 127.0.0.1:$chosen; log: $dir/broker.log"
        echo "127.0.0.1:$chosen"
        return 0
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$dir/broker.pid"
    if [ -n "$port" ]; then
      break
    fi
    log "attempt $attempt: broker did not come up on port $chosen, retrying on another port"
  done
  log "last lines of $dir/broker.log:"
  tail -n 20 "$dir/broker.log" >&2 || true
  die "could not start tansu on 127.0.0.1${port:+:$port}"
}

stop() {
  local dir=$1 pid
  if [ ! -f "$dir/broker.pid" ]; then
    log "no broker recorded in $dir"
    return 0
  fi
  pid=$(cat "$dir/broker.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker pid $pid ignored SIGTERM for 5 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/broker.pid"
  log "stopped broker pid $pid ($dir)"
}

command=${1:-}
[ -n "$command" ] || usage
shift
dir="${TMPDIR:-/tmp}/smokewatch-kafka"
storage=memory
port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --storage) storage=${2:?--storage needs a value}; shift 2 ;;
    --port) port=${2:?--port needs a value}; shift 2 ;;
    -h|--help) usage ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done

case "$command" in
  start) start "$dir" "$storage" "$port" ;;
  stop) stop "$dir" ;;
  *) usage ;;
esac
