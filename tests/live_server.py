"""The real app on a real uvicorn server (127.0.0.1, a free port, a thread), for every test
that talks HTTP to salesgenie: the Genie API, the web page, Slack, model serving, metrics.

The app reads a demo working directory (its data/ holds the warehouse and the MLflow store);
callers give a conversation store of their own, so the shared demo directory is never written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from salesgenie.server.app import ServerSettings, create_app


class LiveServer:
    """A uvicorn server on its own thread, on a free port the kernel picks (port 0).

    Not on a socket bound beforehand (`run(sockets=…)`): uvicorn leaves Nagle's algorithm on
    for those, and every small response then waits ~40 ms for the client's delayed ACK.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def live_server(workdir: Path, store: Path, **options: Any) -> Iterator[LiveServer]:
    """`create_app` run in `workdir` (offline backend: no LLM, whatever the environment).

    Locations are resolved while the app is created, so the server thread does not depend on
    the working directory afterwards.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        mp.delenv("SALESGENIE_WAREHOUSE", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        options.setdefault("backend", "offline")
        app = create_app(ServerSettings(store_path=store, **options))
    running = LiveServer(app)
    try:
        yield running
    finally:
        running.stop()
