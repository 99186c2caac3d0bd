"""Independent reader check for `smokewatch generate --format parquet`.

Usage: simulate_read_parquet.py PATH EXPECTED_ROWS

PATH is one Parquet file or a directory partitioned by date=YYYY-MM-DD/.
Reads it with pyarrow (not with smokewatch's own code), checks the readings
schema and the row count, and prints a one-line summary. Exit code 0 on
success, 1 on a mismatch, 2 when pyarrow is not installed.
"""

import sys

from readings_schema import pa, read, schema_problems


def main() -> int:
    path, expected_rows = sys.argv[1], int(sys.argv[2])
    _, table = read(path)
    problems = schema_problems(table, expected_rows)
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
