"""The run store: run directories, their lock, status, metrics, snapshots and summaries (no torch, no UI)."""

from sslterm.store.jsonl import JsonlTail, JsonlWriter, read_records
from sslterm.store.runs import CHECKPOINT, Run, RunNotFound, create_run, find_run, list_runs, runs_root
from sslterm.store.states import ACTIVE, FINAL, RESUMABLE, STATES, State
from sslterm.store.status import Status, StatusError, read_status, write_status

__all__ = [
    "ACTIVE", "CHECKPOINT", "FINAL", "RESUMABLE", "STATES", "JsonlTail", "JsonlWriter", "Run", "RunNotFound",
    "State", "Status", "StatusError", "create_run", "find_run", "list_runs", "read_records", "read_status",
    "runs_root", "write_status",
]
