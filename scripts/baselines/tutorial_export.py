#!/usr/bin/env python3
"""Baseline (a) of ./scripts/bench: the tutorial's own exporter, landing Parquet.

This is the code of the project's seed document (shared/seed/cxone-export-tutorial.txt,
"Exporting NICE CXone Historical Interaction Data via Analytics REST API with Python"),
kept function for function: the OAuth client-credentials token with its 429 retry,
`build_export_payload` (date windows of at most 90 days, pageSize 5000),
`validate_export_constraints` (pydantic `ExportPayloadSchema` of each export payload, plus
the format, column and date-span checks), `trigger_and_poll_export`,
`fetch_paginated_data` (a fresh httpx client per export, `nextPageToken` pages, the 429
exponential backoff, the JSON-array format check), `verify_schema_alignment` run on every
page (the per-record key-set check and missing-field counts), `generate_audit_log`, and the
`CxoneHistoricalExporter.run_export_pipeline` loop, sequential as in the tutorial.

What differs, and why:
- the base URL is a parameter (the tutorial builds `https://{site}.api.cxone.com`): the
  bench points it at `tributary sim` on loopback;
- the webhook (`sync_to_data_lake`) is replaced by Parquet: each page becomes a pyarrow
  Table (`Table.from_pylist` of the page's dicts; `startTime`/`endTime` cast from ISO 8601
  text to timestamp[ms, UTC] by Arrow, as Tributary lands them) appended to one Parquet
  file per export window (zstd), i.e. the same columns and types as Tributary's sink;
- one bug of the tutorial's window arithmetic is fixed: it ends a window at
  `start + 90 days` 23:59:59.999 and starts the next one at `end + 1 s`, i.e. on the same
  calendar day, so consecutive windows overlap by a day and each spans 91 days minus 1 ms,
  which the contract (shared/cxone-api.md) rejects with 400 `date_range_too_long`. Windows
  here are 90 whole days, the next one starting the day after (what Tributary does);
- the poll interval is the bench's (`--poll-interval`, 5 ms as Tributary's bench uses),
  not the tutorial's 10 s, which would measure sleeping.

Prints records, wall seconds (token to last file closed; interpreter start-up and imports
excluded) and records/s; then reads the files back with pyarrow and fails (exit 1) unless
exactly `--expect` rows with as many distinct ids landed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
import warnings
from datetime import datetime, timedelta
from typing import Any, Dict, Generator, List, Optional

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

# The tutorial's `class Config` is pydantic v1 style; v2 still honours it, with a warning.
warnings.filterwarnings("ignore", message="Support for class-based `config`")

# --- Step 1 of the tutorial: export payloads by date window --------------------------------

MAX_EXPORT_DAYS = 90  # CXone enforces maximum date spans per export job
EXPORT_FORMAT = "json"


def build_export_payload(
    report_id: str,
    start_date: datetime,
    end_date: datetime,
    columns: list[str],
    filters: Optional[Dict[str, Any]] = None,
) -> list[Dict[str, Any]]:
    """Date range matrices that respect maximum extraction limits (the tutorial's, with
    the overlap fixed: windows of MAX_EXPORT_DAYS whole days, no day twice)."""
    payloads = []
    current_start = start_date
    while current_start <= end_date:
        current_end = min(current_start + timedelta(days=MAX_EXPORT_DAYS - 1), end_date)
        payload: Dict[str, Any] = {
            "reportId": report_id,
            "dateRange": {
                "start": current_start.strftime("%Y-%m-%dT00:00:00.000Z"),
                "end": current_end.strftime("%Y-%m-%dT23:59:59.999Z"),
            },
            "format": EXPORT_FORMAT,
            "columns": columns,
            "filters": filters or {},
            "pageSize": 5000,
        }
        payloads.append(payload)
        current_start = current_end + timedelta(days=1)
    return payloads


# --- Step 2: validate payloads against warehouse constraints (pydantic) ---------------------


class ExportPayloadSchema(BaseModel):
    reportId: str
    dateRange: Dict[str, str]
    format: str
    columns: List[str]
    filters: Optional[Dict[str, Any]]
    pageSize: int

    class Config:
        extra = "forbid"


def validate_export_constraints(payloads: list[Dict[str, Any]]) -> bool:
    """Verify payloads against CXone warehouse constraints before submission."""
    allowed_formats = {"json", "csv", "xlsx"}
    max_columns = 150
    for idx, payload in enumerate(payloads):
        try:
            ExportPayloadSchema(**payload)
        except ValidationError as exc:
            raise ValueError(f"Payload {idx} failed schema validation: {exc}")
        if payload["format"] not in allowed_formats:
            raise ValueError(f"Unsupported format: {payload['format']}. Use json, csv, or xlsx.")
        if len(payload["columns"]) > max_columns:
            raise ValueError(f"Column count exceeds warehouse limit of {max_columns}.")
        start_dt = datetime.fromisoformat(payload["dateRange"]["start"].replace("Z", "+00:00"))
        end_dt = datetime.fromisoformat(payload["dateRange"]["end"].replace("Z", "+00:00"))
        if end_dt <= start_dt:
            raise ValueError("End date must be strictly greater than start date.")
        if (end_dt - start_dt).days > MAX_EXPORT_DAYS:
            raise ValueError(f"Date range exceeds {MAX_EXPORT_DAYS} day maximum extraction limit.")
    return True


# --- Step 3: submit, poll, paginated GETs ---------------------------------------------------


def trigger_and_poll_export(
    base_url: str, token: str, payload: Dict[str, Any], poll_interval: float = 10.0
) -> str:
    """Submit export job and poll until completed. Returns export ID."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    with httpx.Client(timeout=30.0) as client:
        response = client.post(
            f"{base_url}/api/v2/analytics/data-exports", json=payload, headers=headers
        )
        response.raise_for_status()
        export_id = response.json()["id"]
        while True:
            time.sleep(poll_interval)
            status_resp = client.get(
                f"{base_url}/api/v2/analytics/data-exports/{export_id}", headers=headers
            )
            status_resp.raise_for_status()
            status_data = status_resp.json()
            if status_data["status"] == "completed":
                return export_id
            elif status_data["status"] == "failed":
                raise RuntimeError(
                    f"Export failed: {status_data.get('errorMessage', 'Unknown error')}"
                )
            elif status_data["status"] in {"pending", "processing"}:
                continue
            else:
                raise RuntimeError(f"Unexpected export status: {status_data['status']}")


def fetch_paginated_data(
    base_url: str, token: str, export_id: str, expected_format: str = "json"
) -> Generator[list[dict], None, None]:
    """Atomic GET operations with automatic pagination and format verification."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    page_token = None
    max_retries = 3
    with httpx.Client(timeout=60.0) as client:
        while True:
            params = {"pageSize": 5000}
            if page_token:
                params["nextPageToken"] = page_token
            for attempt in range(max_retries):
                try:
                    response = client.get(
                        f"{base_url}/api/v2/analytics/data-exports/{export_id}/data",
                        headers=headers,
                        params=params,
                    )
                    response.raise_for_status()
                    break
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code == 429:
                        delay = 2.0 * (2**attempt)
                        time.sleep(delay)
                        continue
                    raise
            body = response.json()
            if expected_format == "json" and not isinstance(body.get("data"), list):
                raise ValueError("Format verification failed: expected JSON array in response.")
            yield body.get("data", [])
            page_token = body.get("nextPageToken")
            if not page_token:
                break


# --- Step 4: validation pipeline and audit log ----------------------------------------------

INTERACTION_SCHEMA_FIELDS = {
    "id", "direction", "medium", "startTime", "endTime",
    "agentId", "queueId", "holdTime", "wrapTime", "talkTime",
}


def verify_schema_alignment(records: list[dict]) -> dict:
    """Check data completeness and schema alignment for a batch of records."""
    total = len(records)
    valid = 0
    missing_fields: Dict[str, int] = {}
    for record in records:
        present = set(record.keys())
        missing = INTERACTION_SCHEMA_FIELDS - present
        if not missing:
            valid += 1
        else:
            for field in missing:
                missing_fields[field] = missing_fields.get(field, 0) + 1
    return {
        "total_records": total,
        "valid_records": valid,
        "integrity_rate": valid / total if total > 0 else 0.0,
        "missing_field_counts": missing_fields,
    }


def generate_audit_log(
    export_id: str, metrics: Dict[str, Any], validation_results: Dict[str, Any]
) -> Dict[str, Any]:
    """Generate export audit logs for data governance."""
    log_hash = hashlib.sha256(json.dumps(metrics, sort_keys=True).encode()).hexdigest()
    return {
        "exportId": export_id,
        "auditTimestamp": datetime.utcnow().isoformat(),
        "latencyMs": metrics["total_latency_ms"],
        "recordsExported": metrics["total_records"],
        "integrityRate": validation_results["integrity_rate"],
        "schemaAlignmentPass": validation_results["valid_records"]
        == validation_results["total_records"],
        "logHash": log_hash,
        "status": "completed",
    }


# --- Landing: Parquet instead of the tutorial's webhook --------------------------------------

COLUMNS = ["id", "direction", "medium", "startTime", "endTime",
           "agentId", "queueId", "holdTime", "wrapTime", "talkTime"]
TIME_COLUMNS = ("startTime", "endTime")
_WIRE_SCHEMA = pa.schema(
    [(c, pa.int64() if c.endswith("Time") and c not in TIME_COLUMNS else pa.string())
     for c in COLUMNS]
)
TIMESTAMP = pa.timestamp("ms", tz="UTC")
LAKE_SCHEMA = pa.schema(
    [pa.field(f.name, TIMESTAMP) if f.name in TIME_COLUMNS else f for f in _WIRE_SCHEMA]
)


def page_to_table(records: list[dict]) -> pa.Table:
    """One page of records (dicts) as an Arrow table of the lake's schema: the page's
    Python objects are converted row by row by pyarrow, the two times are parsed by
    Arrow's vectorised cast from ISO 8601 text."""
    table = pa.Table.from_pylist(records, schema=_WIRE_SCHEMA)
    for name in TIME_COLUMNS:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.cast(table.column(i), TIMESTAMP))
    return table


def acquire_token(base_url: str, client_id: str, client_secret: str) -> str:
    """The tutorial's `get_access_token` (429 retry honouring Retry-After)."""
    payload = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": "analytics:export:read analytics:export:write reports:read",
    }
    client = httpx.Client(timeout=15.0)
    max_retries = 3
    base_delay = 2.0
    for attempt in range(max_retries):
        try:
            response = client.post(f"{base_url}/oauth/token", data=payload)
            response.raise_for_status()
            return response.json()["access_token"]
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 429:
                retry_after = float(
                    exc.response.headers.get("Retry-After", base_delay * (2**attempt))
                )
                time.sleep(retry_after)
                continue
            raise
        except httpx.RequestError as exc:
            raise RuntimeError(f"Network failure during token acquisition: {exc}")
    raise RuntimeError("Maximum retries exceeded for OAuth token acquisition")


class CxoneHistoricalExporter:
    def __init__(self, base_url: str, api_key: str, api_secret: str, poll_interval: float):
        self.base_url = base_url.rstrip("/")
        self.poll_interval = poll_interval
        self.token = acquire_token(self.base_url, api_key, api_secret)

    def run_export_pipeline(
        self,
        report_id: str,
        start_date: datetime,
        end_date: datetime,
        columns: List[str],
        out_dir: str,
    ) -> Dict[str, Any]:
        payloads = build_export_payload(report_id, start_date, end_date, columns)
        validate_export_constraints(payloads)
        total_records = 0
        validation_results: Dict[str, Any] = {
            "total_records": 0, "valid_records": 0, "integrity_rate": 0.0,
            "missing_field_counts": {},
        }
        pipeline_start = time.time()
        for n, payload in enumerate(payloads):
            export_id = trigger_and_poll_export(
                self.base_url, self.token, payload, self.poll_interval
            )
            path = os.path.join(out_dir, f"window-{n:03}-{payload['dateRange']['start'][:10]}.parquet")
            with pq.ParquetWriter(path, LAKE_SCHEMA, compression="zstd") as writer:
                for batch in fetch_paginated_data(self.base_url, self.token, export_id):
                    batch_validation = verify_schema_alignment(batch)
                    total_records += batch_validation["total_records"]
                    validation_results["total_records"] += batch_validation["total_records"]
                    validation_results["valid_records"] += batch_validation["valid_records"]
                    validation_results["missing_field_counts"].update({
                        k: validation_results["missing_field_counts"].get(k, 0) + v
                        for k, v in batch_validation["missing_field_counts"].items()
                    })
                    if batch:
                        writer.write_table(page_to_table(batch))
        pipeline_end = time.time()
        total_latency_ms = (pipeline_end - pipeline_start) * 1000
        validation_results["integrity_rate"] = (
            validation_results["valid_records"] / validation_results["total_records"]
            if validation_results["total_records"] > 0 else 0.0
        )
        metrics = {
            "total_latency_ms": total_latency_ms,
            "total_records": total_records,
            "export_jobs_triggered": len(payloads),
        }
        return generate_audit_log(
            export_id="batch_pipeline", metrics=metrics, validation_results=validation_results
        )


# --- Shared by both baselines: arguments, result line, read-back check ----------------------


def arguments(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8089")
    p.add_argument("--client-id", default="sim-client")
    p.add_argument("--client-secret", default="sim-secret")
    p.add_argument("--start", default="2023-01-01")
    p.add_argument("--end", default="2023-12-31", help="inclusive")
    p.add_argument("--poll-interval", type=float, default=0.005, help="seconds")
    p.add_argument("--out", required=True, help="directory for the Parquet files")
    p.add_argument("--expect", type=int, help="fail unless exactly this many rows landed")
    p.add_argument("--result", help="write the figures as JSON to this file")
    return p.parse_args()


def finish(name: str, args: argparse.Namespace, records: int, wall: float, files: list[str],
           extra: Optional[Dict[str, Any]] = None) -> None:
    """Prints the figures, reads the files back and fails loudly unless they hold exactly
    `--expect` rows with as many distinct ids."""
    # Peak RSS of the export itself, before the read-back below adds its own.
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ids = [pq.read_table(f, columns=["id"]).column("id") for f in files]
    landed = sum(len(c) for c in ids)
    distinct = (
        pc.count_distinct(pa.chunked_array([ch for c in ids for ch in c.chunks])).as_py()
        if landed else 0
    )
    rps = records / wall if wall > 0 else 0.0
    print(f"{name:>8}: {records:>10,} records in {wall:6.2f} s = {rps:>9,.0f} records/s, "
          f"peak RSS {rss_mib:6.1f} MiB ({len(files)} Parquet files, {landed:,} rows read back, "
          f"{distinct:,} distinct ids)")
    result = {"name": name, "records": records, "wall_s": wall, "records_per_s": rps,
              "rss_mib": rss_mib, "files": len(files), "rows_read_back": landed,
              "distinct_ids": distinct}
    result.update(extra or {})
    if args.result:
        with open(args.result, "w") as f:
            json.dump(result, f)
    if args.expect is not None and not (landed == records == distinct == args.expect):
        print(f"{name}: FAILED: expected exactly {args.expect:,} rows and ids; fetched "
              f"{records:,}, read back {landed:,} rows with {distinct:,} distinct ids",
              file=sys.stderr)
        sys.exit(1)


def parquet_files(root: str) -> list[str]:
    return sorted(
        os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".parquet")
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    exporter = CxoneHistoricalExporter(
        args.base_url, args.client_id, args.client_secret, args.poll_interval
    )
    audit = exporter.run_export_pipeline(
        report_id="bench",
        start_date=datetime.fromisoformat(args.start),
        end_date=datetime.fromisoformat(args.end),
        columns=COLUMNS,
        out_dir=args.out,
    )
    wall = time.perf_counter() - t0
    print(f"tutorial audit log: {json.dumps(audit)}", file=sys.stderr)
    finish("tutorial", args, audit["recordsExported"], wall, parquet_files(args.out),
           {"integrity_rate": audit["integrityRate"]})


if __name__ == "__main__":
    main()
