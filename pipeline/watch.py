"""Re-run the pipeline when a source table changes (the local stand-in for a table-update trigger).

Each poll opens the warehouse, fingerprints the sources and closes it again, so the file lock is
held for well under a second and other processes (a loader, the CLI) can write between polls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import duckdb

from pipeline.prep import Fingerprint, source_fingerprints, stored_fingerprints
from pipeline.warehouse import open_warehouse
from salesgenie.errors import SalesgenieError

log = logging.getLogger(__name__)

Opener = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def watch(
    on_change: Callable[[], object],
    interval: float = 30.0,
    max_polls: int | None = None,
    *,
    open_connection: Opener = open_warehouse,
    on_error: Callable[[SalesgenieError], object] | None = None,
) -> None:
    """Poll the source fingerprints every `interval` s; call `on_change()` when one moved.

    The first poll compares with what the last prep recorded, so changes made while nobody
    watched are caught; later polls compare with the previous poll, so a failing pipeline is
    retried at the next change rather than at every poll. A SalesgenieError (missing table,
    warehouse busy, a failing callback) goes to `on_error` (default: a logged warning) and
    watching goes on. `max_polls` bounds the loop (tests, one-shot checks); None runs forever.
    """
    report = on_error or (lambda exc: log.warning("%s", exc))
    seen: dict[str, Fingerprint] | None = None
    polls = 0
    while max_polls is None or polls < max_polls:
        if polls:
            time.sleep(interval)
        polls += 1
        try:
            with open_connection() as con:
                if seen is None:
                    seen = stored_fingerprints(con)
                current = source_fingerprints(con)
        except SalesgenieError as exc:
            report(exc)
            continue
        changed = current != seen
        seen = current
        if changed:
            try:
                on_change()
            except SalesgenieError as exc:
                report(exc)
