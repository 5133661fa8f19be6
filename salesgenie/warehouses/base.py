"""What every query warehouse gives back, the limits it enforces, and the errors it raises.

The agent, `salesgenie sql` and the HTTP API talk to one interface whatever runs the SQL, so a
result, a time limit and an error look the same on DuckDB and on Databricks SQL.

Limits, read from the environment when a warehouse opens:

| variable                   | default | meaning                                                 |
|----------------------------|---------|---------------------------------------------------------|
| `SALESGENIE_QUERY_TIMEOUT` | `30`    | seconds a query may run before it is cancelled          |
| `SALESGENIE_ROW_CAP`       | `10000` | rows returned at most; more sets `truncated`            |
| `SALESGENIE_MEMORY_LIMIT`  | `2GB`   | DuckDB memory limit (no spilling to disk); e.g. `512MB` |
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, Self

from salesgenie.errors import SalesgenieError


class WarehouseError(SalesgenieError):
    """Anything that went wrong running a query; the message is one line, no driver traceback."""


class QueryTimeout(WarehouseError):
    """The query ran past the time limit and was cancelled."""


class QueryFailed(WarehouseError):
    """The warehouse refused or failed the query (bad SQL, out of memory, permission …)."""


class WarehouseUnavailable(WarehouseError):
    """The warehouse cannot be reached or opened, or its settings are wrong."""


@dataclass(frozen=True)
class QueryLimits:
    """Bounds on one query, so a bad question cannot hang or exhaust the process."""

    time_limit_s: float = 30.0
    row_cap: int = 10_000
    memory_limit: str = "2GB"

    @classmethod
    def from_env(cls) -> QueryLimits:
        return cls(
            time_limit_s=_positive("SALESGENIE_QUERY_TIMEOUT", float, cls.time_limit_s),
            row_cap=_positive("SALESGENIE_ROW_CAP", int, cls.row_cap),
            memory_limit=os.environ.get("SALESGENIE_MEMORY_LIMIT") or cls.memory_limit,
        )


def _positive(name: str, kind: type[float] | type[int], default: float) -> Any:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not 0 < value < math.inf:
        raise WarehouseUnavailable(f"{name} must be a positive {kind.__name__}, got {raw!r}")
    return value


@dataclass
class QueryResult:
    """Rows as plain Python values (dates stay `date` objects: the caller formats them)."""

    columns: list[str]
    types: list[str]  # normalised names: DATE, DOUBLE, VARCHAR, BIGINT, DOUBLE[] …
    rows: list[tuple[Any, ...]]
    truncated: bool  # more than the row cap existed; rows holds the first row_cap
    elapsed_ms: float


class Warehouse(Protocol):
    """A read-only SQL endpoint. `dialect` is the sqlglot dialect its SQL is written in."""

    dialect: str

    def execute(self, sql: str) -> QueryResult: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Watchdog:
    """One daemon thread that fires every deadline in time order.

    A `threading.Timer` per query started a thread per query: about 1 ms each under load, a
    sixth of an offline answer. Cancelled deadlines stay in the heap until they reach its top.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()  # ties never compare two Deadlines
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, deadline: Deadline) -> None:
        with self._wakeup:
            entry = (time.monotonic() + deadline.seconds, next(self._order), deadline)
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="query-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0] is entry:  # earlier than the one the thread sleeps towards
                self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._heap or self._heap[0][2].done:
                    if self._heap:
                        heapq.heappop(self._heap)
                    else:
                        self._wakeup.wait()
                due, _, deadline = self._heap[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._wakeup.wait(delay)
                    continue
                heapq.heappop(self._heap)
            # Its own thread: a Databricks cancel is a network call, and must not hold up the
            # deadlines behind it. Firing is rare; starting a thread then costs nothing that
            # matters.
            threading.Thread(target=deadline.fire, name="query-cancel", daemon=True).start()


_WATCHDOG = _Watchdog()


class Deadline:
    """Calls `cancel` from the watchdog thread when the time limit passes; `expired` tells
    afterwards.

    Neither DuckDB nor the Databricks connector has a client-side statement timeout, but both
    can cancel a running statement from another thread.
    """

    def __init__(self, seconds: float, cancel: Callable[[], object]) -> None:
        self.seconds = seconds
        self._cancel = cancel
        self._lock = threading.Lock()
        self.done = False  # the query finished: firing now would cancel nothing of ours
        self.expired = False

    def timeout(self) -> QueryTimeout:
        return QueryTimeout(f"query cancelled after {self.seconds:g} s time limit")

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
        self._cancel()

    def __enter__(self) -> Self:
        _WATCHDOG.schedule(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.done = True
