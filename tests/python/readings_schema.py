"""The readings Parquet schema as smokewatch writes it, checked with pyarrow
(an independent implementation), shared by the reader checks in this folder.

Importing it exits with code 2 when pyarrow is missing, which the Rust
tests report as "run scripts/test-deps.sh".
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


def read(path):
    """The dataset at `path` (a file or a date=… partitioned folder) and its table."""
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    return dataset, dataset.to_table()


def schema_problems(table, expected_rows):
    """What differs from the readings schema and the expected row count."""
    problems = []
    for name, typ in EXPECTED:
        if name not in table.schema.names:
            problems.append(f"column {name} is missing")
        elif table.schema.field(name).type != typ:
            problems.append(f"column {name} is {table.schema.field(name).type}, expected {typ}")
    if table.num_rows != expected_rows:
        problems.append(f"{table.num_rows} rows, expected {expected_rows}")
    return problems
