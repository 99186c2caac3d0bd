"""Independent reader check for smokewatch's historical store.

Usage: batch_read_store.py STORE_DIR EXPECTED_ROWS MIN_PARTITIONS

Reads the Hive-partitioned store (date=YYYY-MM-DD/*.parquet) with pyarrow's
dataset API (not with smokewatch's code), checks the readings schema, the
row count, that there are at least MIN_PARTITIONS day partitions, and that
every row's event time falls on its partition's UTC day. Prints a one-line
summary. Exit code 0 on success, 1 on a mismatch, 2 when pyarrow is missing.
"""

import sys

try:
    import pyarrow as pa
    import pyarrow.compute as pc
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
    path, expected_rows, min_partitions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    table = dataset.to_table()
    problems = []
    names = table.schema.names
    for name, typ in EXPECTED:
        if name not in names:
            problems.append(f"column {name} is missing")
        elif table.schema.field(name).type != typ:
            problems.append(f"column {name} is {table.schema.field(name).type}, expected {typ}")
    expected_names = [n for n, _ in EXPECTED] + ["date"]
    if names != expected_names:
        problems.append(f"columns {names}, expected {expected_names}")
    if table.num_rows != expected_rows:
        problems.append(f"{table.num_rows} rows, expected {expected_rows}")
    partitions = set()
    if "date" in names and "event_time" in names:
        days = pc.strftime(table.column("event_time"), format="%Y-%m-%d")
        partition = table.column("date").cast(pa.string())
        mismatched = pc.sum(pc.not_equal(days, partition).cast(pa.int64())).as_py() or 0
        if mismatched:
            problems.append(f"{mismatched} rows lie outside their date= partition's day")
        partitions = set(partition.to_pylist())
    if len(partitions) < min_partitions:
        problems.append(f"{len(partitions)} day partitions, expected at least {min_partitions}")
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 1
    print(f"pyarrow {pa.__version__}: {table.num_rows} rows in {len(dataset.files)} files, "
          f"{len(partitions)} day partitions, {len(names)} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
