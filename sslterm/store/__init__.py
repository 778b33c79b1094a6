"""The run store: run directories, their status, metrics and snapshots (no torch, no UI)."""

from sslterm.store.jsonl import JsonlTail, JsonlWriter, read_records
from sslterm.store.runs import Run, RunNotFound, create_run, find_run, list_runs, runs_root, summary
from sslterm.store.status import ACTIVE, STATES, Status, StatusError, read_status, write_status

__all__ = [
    "ACTIVE", "STATES", "JsonlTail", "JsonlWriter", "Run", "RunNotFound", "Status", "StatusError",
    "create_run", "find_run", "list_runs", "read_records", "read_status", "runs_root", "summary",
    "write_status",
]
