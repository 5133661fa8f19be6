"""The Slack bot (slack-bolt): /slack/events and /slack/commands. Being written (issue 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from salesgenie.server.app import ServerSettings
    from salesgenie.server.service import GenieService


def install_slack(app: FastAPI, server: ServerSettings, service: GenieService) -> None:
    """Mount the Slack routes when both secrets are set; otherwise add a notice saying so."""
    app.state.notices.append("Slack bot off: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN")
