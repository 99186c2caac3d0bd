#!/usr/bin/env bash
# Installs, once per machine, what the test suite needs beyond cargo:
#   - tansu, a Kafka-protocol broker (cargo install, ~9 minutes on 2 cores;
#     an installed binary of the pinned version is reused),
#   - the Python clients in tests/requirements.txt (confluent-kafka, pyarrow).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

TANSU_VERSION=0.6.0

log() { printf '[test-deps] %s\n' "$*" >&2; }

ensure_tansu() {
  local bin
  bin=$(command -v tansu || true)
  [ -n "$bin" ] || bin="$HOME/.cargo/bin/tansu"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    log "tansu $TANSU_VERSION present: $bin"
    return
  fi
  log "building tansu $TANSU_VERSION (once per machine, about 9 minutes on 2 cores)"
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore,libsql
}

ensure_python() {
  if python3 - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
want = {"confluent-kafka": "2.16.1", "pyarrow": "26.0.1"}
sys.exit(0 if all(m.version(k) == v for k, v in want.items()) else 1)
PY
  then
    log "python test clients present"
  else
    log "installing python test clients (tests/requirements.txt)"
    python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  fi
}

ensure_tansu
ensure_python
