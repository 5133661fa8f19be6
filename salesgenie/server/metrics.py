"""/metrics in Prometheus' format. Being written (issue 7)."""

from __future__ import annotations

from fastapi import FastAPI


def install_metrics(app: FastAPI) -> None:
    """Count and time every request; expose the registry at /metrics."""
