#!/usr/bin/env bash
# Installs, once per machine, what the test suite needs beyond cargo:
#   - tansu, a Kafka-protocol broker (cargo install, ~9 minutes on 2 cores;
#     an installed binary of the pinned version is reused),
#   - the Python clients in tests/requirements.txt (confluent-kafka, pyarrow),
#   - headless Chromium and chromedriver for the browser tests (Debian),
#   - promtool for the Prometheus config/rules/metrics checks (Debian),
#   - openapi-spec-validator, the reference OpenAPI 3 validator (PyPI).
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

apt_updated=false
apt_install() {
  if [ "$apt_updated" = false ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# The browser tests (tests/web_browser.rs) drive Debian's Chromium through
# chromedriver; both come from the same source package, so versions match.
ensure_chromium() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    log "chromium present: $(chromium --version 2>/dev/null | head -n1)"
    return
  fi
  log "installing chromium and chromium-driver (apt)"
  apt_install chromium chromium-driver
}

# tests/monitoring_promtool.rs runs promtool (Debian package prometheus).
ensure_promtool() {
  if command -v promtool >/dev/null; then
    log "promtool present: $(promtool --version 2>&1 | head -n1)"
    return
  fi
  log "installing promtool (apt: prometheus)"
  apt_install prometheus
}

# tests/web_openapi.rs validates /api/openapi.json with the reference
# validator.
ensure_openapi_validator() {
  if python3 -c "import openapi_spec_validator" 2>/dev/null; then
    log "openapi-spec-validator present"
    return
  fi
  log "installing openapi-spec-validator (pip)"
  python3 -m pip install --quiet --disable-pip-version-check "openapi-spec-validator==0.9.0"
}

ensure_tansu
ensure_python
ensure_chromium
ensure_promtool
ensure_openapi_validator
