"""The `weekly_forecast` model-serving endpoint. Being written (issue 7)."""

from __future__ import annotations

from fastapi import FastAPI


def install_serving(app: FastAPI, tracking_uri: str) -> None:
    """Mount the invocations and endpoint-description routes over the champion model."""
