#!/usr/bin/env bash
# Graceful shutdown under a large fleet (issue 12, acceptance 4).
#
# Runs the daemon with the default config and a simulated fleet of
# 10,000 smoke detectors (`homes: 2500, rooms_per_home: 4`) for a while,
# sends SIGTERM, and checks that
#   - the daemon exits 0 within `daemon.shutdown_timeout` (+ a margin),
#   - the final checkpoint the source requested is the one the sinks wrote
#     ("final checkpoint N requested" == "last checkpoint N"), and
#   - that checkpoint is on disk in the data dir.
# With --load, one busy process per core runs beside the daemon for the
# whole run, so the drain has to finish on a machine that has no CPU to
# spare.
#
# With --sample SECS, the daemon's memory is read every SECS seconds
# (VmRSS, and jemalloc's allocated bytes from /metrics) into
# memory.tsv beside its log, and each run's line adds the median, minimum
# and maximum resident set over the last two thirds of the run (issue 15,
# acceptance 2: the last 20 of 30 minutes).
#
# Usage: scripts/shutdown-soak.sh [--runs N] [--duration SECS] [--load]
#                                 [--homes N] [--bin PATH] [--keep]
#                                 [--sample SECS]
# Default: 5 runs of 600 s, no load, the release binary (built if missing).
# Prints one line per run and exits non-zero when any run fails. A run
# writes about 9 GB of output in 10 minutes; it is deleted after the run
# (a failed run keeps its log and checkpoint) unless --keep is given.
set -euo pipefail

runs=5
duration=600
load=false
homes=2500
keep=false
bin=""
sample=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --load) load=true; shift ;;
        --homes) homes="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --keep) keep=true; shift ;;
        --sample) sample="$2"; shift 2 ;;
        *) echo "unknown option: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "$bin" ]]; then
    bin="$root/target/release/smokewatch"
    [[ -x "$bin" ]] || (cd "$root" && cargo build --release --quiet)
fi
[[ -x "$bin" ]] || { echo "no daemon binary at $bin" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

load_pids=()
stop_load() {
    for pid in "${load_pids[@]:-}"; do
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
    done
    load_pids=()
}
trap stop_load EXIT

failures=0
for run in $(seq 1 "$runs"); do
    dir="$(mktemp -d /tmp/smokewatch-soak.XXXXXX)"
    if $load; then
        for _ in $(seq 1 "$(nproc)"); do
            (while :; do :; done) &
            load_pids+=("$!")
        done
    fi
    (
        cd "$dir"
        exec env SMOKEWATCH__DAEMON__DATA_DIR="$dir/data" \
            SMOKEWATCH__SIMULATOR__HOMES="$homes" \
            SMOKEWATCH__SIMULATOR__ROOMS_PER_HOME=4 \
            SMOKEWATCH__WEB__PORT=0 \
            "$bin" --config "$root/config.yaml" run
    ) 2>"$dir/daemon.log" &
    daemon=$!
    if [[ "$sample" -gt 0 ]]; then
        started=$(date +%s)
        printf 'seconds\trss_mb\theap_allocated_mb\n' > "$dir/memory.tsv"
        while (( $(date +%s) - started < duration )); do
            sleep "$sample"
            port="$(grep -o 'on http://127.0.0.1:[0-9]*' "$dir/daemon.log" | head -1 | grep -o '[0-9]*$' || true)"
            heap="$( [[ -n "$port" ]] && curl -s "http://127.0.0.1:$port/metrics" \
                | awk '/^smokewatch_heap_bytes\{kind="allocated"\}/ {printf "%.0f", $2 / 1e6}' || true)"
            rss="$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$daemon/status" 2>/dev/null || true)"
            printf '%d\t%s\t%s\n' "$(( $(date +%s) - started ))" "${rss:--}" "${heap:--}" >> "$dir/memory.tsv"
        done
    else
        sleep "$duration"
    fi
    rss_kb="$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status" 2>/dev/null || echo 0)"
    term_at=$(date +%s.%N)
    kill -TERM "$daemon" 2>/dev/null || echo "run $run: the daemon had already exited" >&2
    set +e
    wait "$daemon"
    code=$?
    set -e
    took=$(echo "$(date +%s.%N) - $term_at" | bc)
    stop_load

    requested="$(grep -o 'final checkpoint [0-9]* requested' "$dir/daemon.log" | grep -o '[0-9]*' | tail -1 || true)"
    written="$(grep -o 'last checkpoint [0-9]*' "$dir/daemon.log" | grep -o '[0-9]*' | tail -1 || true)"
    on_disk="$(grep -rl . "$dir/data/checkpoints" 2>/dev/null | wc -l)"
    readings="$(grep -o 'validate drained: [0-9]* records' "$dir/daemon.log" | grep -o '[0-9]*' | tail -1 || true)"
    verdict=ok
    if [[ "$code" != 0 || -z "$requested" || "$requested" != "$written" || "$on_disk" == 0 ]]; then
        verdict=FAILED
        failures=$((failures + 1))
    fi
    memory=""
    if [[ "$sample" -gt 0 ]]; then
        # Median, minimum and maximum over the last two thirds of the run.
        memory="$(awk -v from="$((duration / 3))" -F'\t' 'NR > 1 && $1 >= from && $2 != "-" { print $2 }' "$dir/memory.tsv" \
            | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "; RSS over the last 2/3: median %d MB, %d-%d MB (%d samples)", v[int((NR + 1) / 2)], v[1], v[NR], NR }')"
    fi
    printf 'run %d: %s exit %s in %.1fs after SIGTERM; final checkpoint requested %s, written %s; %s checkpoint files; %s records read; RSS before SIGTERM %d MB%s; load %s; log %s\n' \
        "$run" "$verdict" "$code" "$took" "${requested:-none}" "${written:-none}" "$on_disk" \
        "${readings:-?}" "$((rss_kb / 1024))" "$memory" "$load" "$dir/daemon.log"
    if [[ "$verdict" == FAILED ]]; then
        tail -30 "$dir/daemon.log" >&2
        # Keep the log and the checkpoint; the part files and the store
        # (about 9 GB after 10 minutes of 10,000 detectors) would fill the
        # disk over a few failed runs.
        $keep || rm -rf "$dir/data/out" "$dir/data/store"
    elif ! $keep; then
        rm -rf "$dir"
    fi
done
echo "$((runs - failures)) of $runs runs shut down cleanly"
[[ "$failures" == 0 ]]
