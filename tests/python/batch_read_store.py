"""Independent reader check for smokewatch's historical store.

Usage: batch_read_store.py STORE_DIR EXPECTED_ROWS MIN_PARTITIONS

Reads the Hive-partitioned store (date=YYYY-MM-DD/*.parquet) with pyarrow's
dataset API (not with smokewatch's code), checks the readings schema, the
row count, that there are at least MIN_PARTITIONS day partitions, and that
every row's event time falls on its partition's UTC day. Prints a one-line
summary. Exit code 0 on success, 1 on a mismatch, 2 when pyarrow is missing.
"""

import sys

from readings_schema import EXPECTED, pa, read, schema_problems

import pyarrow.compute as pc


def main() -> int:
    path, expected_rows, min_partitions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    dataset, table = read(path)
    problems = schema_problems(table, expected_rows)
    names = table.schema.names
    expected_names = [n for n, _ in EXPECTED] + ["date"]
    if names != expected_names:
        problems.append(f"columns {names}, expected {expected_names}")
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
