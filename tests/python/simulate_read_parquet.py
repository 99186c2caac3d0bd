"""Independent reader check for `smokewatch generate --format parquet`.

Usage: simulate_read_parquet.py PATH EXPECTED_ROWS

PATH is one Parquet file or a directory partitioned by date=YYYY-MM-DD/.
Reads it with pyarrow (not with smokewatch's own code), checks the readings
schema and the row count, and prints a one-line summary. Exit code 0 on
success, 1 on a mismatch, 2 when pyarrow is not installed.
"""

import sys

try:
    import pyarrow as pa
    import pyarrow.dataset as ds
except ImportError as e:  # pragma: no cover - environment problem
    print(f"pyarrow is not installed ({e}); run scripts/test-deps.sh", file=sys.stderr)
    sys.exit(2)

CHANNELS = [
    "temperature_c", "humidity_pct", "tvoc_ppb", "eco2_ppm", "raw_h2", "raw_ethanol",
    "pressure_hpa", "pm1_0", "pm2_5", "nc0_5", "nc1_0", "nc2_5",
]
EXPECTED = (
    [("event_time", pa.timestamp("ms", tz="UTC")), ("device_id", pa.string()),
     ("home", pa.string()), ("room", pa.string()), ("seq", pa.uint64()), ("cnt", pa.uint64())]
    + [(c, pa.float64()) for c in CHANNELS]
    + [("fire_alarm", pa.bool_())]
)


def main() -> int:
    path, expected_rows = sys.argv[1], int(sys.argv[2])
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    table = dataset.to_table()
    problems = []
    for name, typ in EXPECTED:
        if name not in table.schema.names:
            problems.append(f"column {name} is missing")
        elif table.schema.field(name).type != typ:
            problems.append(f"column {name} is {table.schema.field(name).type}, expected {typ}")
    if table.num_rows != expected_rows:
        problems.append(f"{table.num_rows} rows, expected {expected_rows}")
    labels = table.column("fire_alarm").to_pylist() if "fire_alarm" in table.schema.names else []
    if labels and any(v is None for v in labels):
        problems.append("fire_alarm has nulls in generated history")
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 1
    fire = sum(1 for v in labels if v)
    print(f"pyarrow {pa.__version__}: {table.num_rows} rows, {len(table.schema.names)} columns, "
          f"fire share {fire / max(1, table.num_rows):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
