#!/usr/bin/env bash
# Measures HTTP ingest: POSTs N readings (default 100000) as one NDJSON body
# to a running daemon and prints what it answered and readings/s.
#
#   scripts/ingest-bench.sh http://127.0.0.1:8080 "$SMOKEWATCH__WEB__INGEST_TOKEN" [N]
#
# The readings come from 100 devices h1-r<i>-smoke, one a second, dated
# from three hours ago; the daemon registers the devices automatically
# (stream.unknown_devices: register) and its body limit
# (web.ingest_max_body_bytes, 64 MiB) holds about 150 000 of them.
set -euo pipefail
url=${1:?usage: $0 URL TOKEN [N]}
token=${2:?usage: $0 URL TOKEN [N]}
n=${3:-100000}
body=$(mktemp)
trap 'rm -f "$body"' EXIT
python3 - "$n" >"$body" <<'PY'
import json, sys, time
n = int(sys.argv[1])
t0 = int(time.time() * 1000) - 3 * 3600 * 1000
out = sys.stdout
for i in range(n):
    s, d = divmod(i, 100)
    out.write(json.dumps({
        "schema_version": 1, "device_id": f"h1-r{d}-smoke", "home": "h1", "room": f"r{d}",
        "event_time_ms": t0 + s * 1000, "seq": s + 1, "temperature_c": 21.0,
        "humidity_pct": 45.0, "tvoc_ppb": 80.0, "eco2_ppm": 400.0, "raw_h2": 12800.0,
        "raw_ethanol": 20100.0, "pressure_hpa": 938.0, "pm1_0": 1.0, "pm2_5": 1.5,
        "nc0_5": 9.0, "nc1_0": 1.5, "nc2_5": 0.04}, separators=(",", ":")) + "\n")
PY
answer=$(curl -sS -w '\n%{time_total}' -X POST "$url/api/ingest/readings" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/x-ndjson' \
  --data-binary @"$body")
seconds=$(tail -n 1 <<<"$answer")
json=$(head -n -1 <<<"$answer")
python3 - "$seconds" "$json" "$(stat -c %s "$body")" <<'PY'
import json, sys
seconds, answer, size = float(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print(f"received {answer['received']}, accepted {answer['accepted']}, refused {answer['refused']}; "
      f"{size / 1e6:.1f} MB in {seconds:.2f} s = {answer['accepted'] / seconds:,.0f} readings/s")
PY
