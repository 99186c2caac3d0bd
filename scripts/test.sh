#!/usr/bin/env bash
# The whole test suite: installs what the tests need (once per machine, see
# scripts/test-deps.sh), then runs every test. Kafka tests start their own
# broker through scripts/kafka-broker.sh; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --locked --no-fail-fast "$@"
