#!/usr/bin/env python3
"""Baseline (b) of ./scripts/bench: dlt fed Arrow tables, landing Parquet on a filesystem.

The fetching is the tutorial's, imported from tutorial_export.py (token, 90-day windows,
pydantic payload validation, create + poll, paginated `/data` GETs with the 429 retry),
so both baselines pay the same HTTP and JSON cost. Each page's records become a pyarrow
Table the same way (`Table.from_pylist`, times cast to timestamp[ms, UTC] by Arrow), and
that Table is what a `dlt.resource` yields: dlt's cheapest input, no per-record Python in
dlt itself (no `verify_schema_alignment` either: dlt infers the schema from the Arrow
schema). `pipeline.run` then extracts (Arrow tables to Parquet files), normalizes (column
names to snake_case, schema inference and evolution, file rewriting where needed) and
loads into the `filesystem` destination (a local temporary directory), Parquet with zstd.

Prints records, wall seconds (token to the load package completed; interpreter start-up and
imports excluded) and records/s; reads the landed files back with pyarrow and fails (exit 1)
unless exactly `--expect` rows with as many distinct ids landed.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime

# dlt reads its configuration from the environment: no telemetry, Parquet with zstd
# (dlt's default is snappy), everything under the output directory.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DATA_WRITER__COMPRESSION", "zstd")

import dlt  # noqa: E402

from tutorial_export import (  # noqa: E402
    COLUMNS,
    acquire_token,
    arguments,
    build_export_payload,
    fetch_paginated_data,
    finish,
    page_to_table,
    parquet_files,
    trigger_and_poll_export,
    validate_export_constraints,
)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    base_url = args.base_url.rstrip("/")
    lake = os.path.join(args.out, "lake")
    fetched = 0

    t0 = time.perf_counter()
    token = acquire_token(base_url, args.client_id, args.client_secret)
    payloads = build_export_payload(
        "bench", datetime.fromisoformat(args.start), datetime.fromisoformat(args.end), COLUMNS
    )
    validate_export_constraints(payloads)

    @dlt.resource(name="interactions", write_disposition="append")
    def interactions():
        nonlocal fetched
        for payload in payloads:
            export_id = trigger_and_poll_export(base_url, token, payload, args.poll_interval)
            for page in fetch_paginated_data(base_url, token, export_id):
                if page:
                    fetched += len(page)
                    yield page_to_table(page)

    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        pipelines_dir=os.path.join(args.out, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=lake),
        dataset_name="cxone",
    )
    info = pipeline.run(interactions(), loader_file_format="parquet")
    wall = time.perf_counter() - t0
    info.raise_on_failed_jobs()
    files = parquet_files(os.path.join(lake, "cxone", "interactions"))
    finish("dlt", args, fetched, wall, files, {"dlt_version": dlt.__version__})


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
