"""The Slack bot (slack-bolt): questions asked in Slack, answered in the thread they came from.

Routes: POST /slack/events (url_verification, `app_mention`, direct messages) and POST
/slack/commands (`/forecast <question>`), mounted only when SLACK_SIGNING_SECRET and
SLACK_BOT_TOKEN are both set; otherwise /slack/ is 404 and `salesgenie serve` says why at start.

Trust: bolt checks every request's v0 signature and that its timestamp is within 5 minutes
(401 otherwise). A signed request is also good once only: its (timestamp, signature) pair is
remembered for 10 minutes (the longest a timestamp stays inside the window) and the same pair
again gets 401. Slack's own retries are not replays: Slack signs every delivery afresh (its last
retry comes minutes after the first attempt, too late for the first timestamp) and marks it with
X-Slack-Retry-Num. A retry of an event already taken (same `event_id`, kept one hour) gets 200
and no second answer; bolt itself does not de-duplicate.

Speed: Slack wants its answer within 3 seconds, and answers take longer with an LLM. Listeners
only read the request and start a task, so the HTTP response (the ack) leaves within
milliseconds; the task asks the GenieService on a worker thread, polls the conversation store
until the message is COMPLETED or FAILED, then posts the sentence, the SQL, a small table and
uploads the chart into the thread (files_upload_v2). Whatever fails, the user gets a message.
Tasks are tracked: the server's shutdown waits for the answers in flight.

Threads: a Slack thread is one Genie conversation, so a follow-up in the thread ("and for
FR01?", mentioning the bot in a channel) continues from the last answer. The thread →
conversation link is kept in the conversation store, so it holds after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request, Response

from agent.inputs import EXAMPLES, MAX_QUESTION_CHARS
from salesgenie.server.store import MessageRecord, StoredResult

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncBoltRequest, AsyncRespond
    from slack_bolt.response import BoltResponse
    from slack_sdk.web.async_client import AsyncWebClient

    from salesgenie.server.app import ServerSettings
    from salesgenie.server.service import GenieService

log = logging.getLogger(__name__)

COMMAND = "/forecast"
ROUTES = ("/slack/events", "/slack/commands")
SIGNATURE_TTL_S = 600.0  # a timestamp up to 5 min ahead of our clock stays valid 5 min past it
EVENT_TTL_S = 3600.0  # Slack retries for a few minutes; an hour is ample
ANSWER_TIMEOUT_S = 300.0  # an LLM answer polled this long before the user is told
POLL_S = 0.25
DRAIN_S = 30.0  # shutdown waits this long for answers in flight
TABLE_ROWS = 10
CELL_CHARS = 30
SECTION_CHARS = 3000  # Slack's limit for a section's text
FINAL = ("COMPLETED", "FAILED")
NUMERIC = {"DOUBLE", "FLOAT", "DECIMAL", "LONG", "INT", "SHORT", "BYTE"}
DECIMALS = {"DOUBLE", "FLOAT", "DECIMAL"}
USAGE = (
    f"Ask me about sales and forecasts, e.g. `{COMMAND} {EXAMPLES[0]}`, mention me with a "
    "question, or send me a direct message. Follow-ups go in the answer's thread."
)
SORRY = "Sorry, I couldn't answer that"
# Slack's markup in incoming text: <@U…> mentions, <#C…|name> channels, <url|label> links.
MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def install_slack(app: FastAPI, server: ServerSettings, service: GenieService) -> None:
    """Mount the Slack routes when both secrets are set; otherwise add a notice saying so."""
    secret, token = server.slack_signing_secret, server.slack_bot_token
    if not (secret and token):
        missing = [
            name
            for name, value in (("SLACK_SIGNING_SECRET", secret), ("SLACK_BOT_TOKEN", token))
            if not value
        ]
        app.state.notices.append(
            f"Slack bot off (/slack/events, /slack/commands): set {' and '.join(missing)}"
        )
        return
    if os.environ.get("SLACK_CLIENT_ID") and os.environ.get("SLACK_CLIENT_SECRET"):
        # Bolt would read these and switch to its multi-workspace OAuth install flow, ignoring
        # the bot token: the bot would answer nothing. Off, and saying why, is clearer.
        app.state.notices.append(
            "Slack bot off: SLACK_CLIENT_ID and SLACK_CLIENT_SECRET select Slack's OAuth "
            "install flow, which this one-workspace bot does not use: unset them"
        )
        return

    # Imported here: slack-bolt and aiohttp cost start-up time the CLI should not pay.
    from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=token, base_url=server.slack_api_url)
    bot = SlackBot(service, client)
    bolt = AsyncApp(
        name="salesgenie",
        signing_secret=secret,
        client=client,
        # Listeners only start a task, so running them before the response costs nothing, and
        # the task exists (for shutdown and tests to wait on) once Slack has its ack.
        process_before_response=True,
        before_authorize=delivery_guard(),
    )
    bolt.event("app_mention")(bot.on_mention)
    bolt.event("message")(bot.on_message)
    bolt.command(COMMAND)(bot.on_command)
    handler = AsyncSlackRequestHandler(bolt)

    async def slack_request(request: Request) -> Response:
        return await handler.handle(request)

    router = APIRouter(lifespan=bot.lifespan)
    for path in ROUTES:
        router.add_api_route(path, slack_request, methods=["POST"], include_in_schema=False)
    app.include_router(router)
    app.state.slack = bot


class Recent:
    """Keys seen in the last `ttl_s` seconds. One TTL for all, so insertion order is expiry
    order and expired keys are dropped from the front. Used on the event loop only."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Remember `key`; False when it was already remembered."""
        now = self._clock()
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)
        if key in self._expiry:
            return False
        self._expiry[key] = now + self.ttl_s
        return True


def delivery_guard() -> Callable[..., Awaitable[BoltResponse]]:
    """Bolt middleware run right after its signature check: replays get 401, an event already
    taken gets 200 and goes no further. Only signed requests get here, so only Slack's own
    traffic fills the memory."""
    from slack_bolt.response import BoltResponse

    signatures, events = Recent(SIGNATURE_TTL_S), Recent(EVENT_TTL_S)

    async def guard(
        req: AsyncBoltRequest, next_: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        stamp = req.headers.get("x-slack-request-timestamp", [""])[0]
        signature = req.headers.get("x-slack-signature", [""])[0]
        if not signatures.add((stamp, signature)):
            log.warning("refused a replayed Slack request (timestamp %s)", stamp)
            return BoltResponse(status=401, body={"error": "invalid request"})
        event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
        if event_id and not events.add(event_id):
            retry = req.headers.get("x-slack-retry-num", ["?"])[0]
            reason = req.headers.get("x-slack-retry-reason", ["?"])[0]
            log.info(
                "Slack event %s delivered again (retry %s, %s): ignored", event_id, retry, reason
            )
            return BoltResponse(status=200, body="")
        return await next_()

    return guard


@dataclass(frozen=True)
class Place:
    """Where an answer goes. `respond` (a slash command's response_url) reaches the user even
    where the bot may not post, e.g. a channel it was not invited to."""

    channel: str
    thread_ts: str | None  # None: a new message in the channel (slash commands)
    asker: str | None = None  # a command's user: the channel sees who asked what
    respond: AsyncRespond | None = None


class SlackBot:
    """Bolt listeners and the answers they start, over the Genie service."""

    def __init__(self, service: GenieService, client: AsyncWebClient) -> None:
        self.service = service
        self.client = client
        self.tasks: set[asyncio.Task[None]] = set()

    async def on_mention(self, event: dict[str, Any]) -> None:
        """In a channel: answer in the mention's thread (a new one from a top-level mention)."""
        thread = event.get("thread_ts") or event["ts"]
        self._start(Place(event["channel"], thread), plain_text(event.get("text", "")))

    async def on_message(self, event: dict[str, Any]) -> None:
        """Direct messages only; channel chatter needs a mention, and edits, joins and bot
        messages (the bot's own replies first) are not questions."""
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        thread = event.get("thread_ts") or event["ts"]
        self._start(Place(event["channel"], thread), plain_text(event.get("text", "")))

    async def on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """`/forecast <question>`: acknowledged to the asker at once (ephemeral), answered in
        the channel as a new message whose thread takes follow-ups."""
        question = plain_text(command.get("text", ""))
        if not question:
            await ack(text=USAGE)
            return
        await ack(text=f"Working on it: _{escape(question)}_")
        place = Place(command["channel_id"], None, command.get("user_id"), respond)
        self._start(place, question)

    def _start(self, place: Place, question: str) -> None:
        task = asyncio.get_running_loop().create_task(self.answer(place, question))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        """Answers in flight finish before the service closes (or are cancelled after
        DRAIN_S)."""
        yield
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=DRAIN_S)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d Slack answers cancelled at shutdown", len(pending))

    async def answer(self, place: Place, question: str) -> None:
        """Ask, post the answer, attach the chart; any failure is told to the user."""
        try:
            if not question:
                await self._post(place, USAGE)
                return
            if len(question) > MAX_QUESTION_CHARS:
                await self._post(
                    place,
                    f"{SORRY}: the question is {len(question):,} characters long, "
                    f"at most {MAX_QUESTION_CHARS:,}.",
                )
                return
            message = await self._ask(place, question)
            results = self._results(message)
            intro = f"<@{place.asker}> asked: _{escape(question)}_" if place.asker else None
            text, blocks = render_answer(message, results, intro)
            ts = await self._post(place, text, blocks)
            thread = place.thread_ts or ts
            if place.thread_ts is None:  # the answer starts the thread follow-ups go in
                self.service.store.link_thread(place.channel, thread, message.conversation_id)
            if message.status == "COMPLETED" and message.chart_path:
                await self._upload_chart(place.channel, thread, message)
        except Exception:
            log.exception("answering a Slack question failed (channel %s)", place.channel)
            await self._tell(place, f"{SORRY}: something went wrong on my side (it is logged).")

    async def _ask(self, place: Place, question: str) -> MessageRecord:
        """The thread's conversation continues (or a new one starts); the service waits a
        little for the answer on a worker thread, then the store is polled (the LLM path)."""
        store = self.service.store
        known = (
            store.thread_conversation(place.channel, place.thread_ts) if place.thread_ts else None
        )
        conversation = store.conversation(known) if known else None
        if conversation is None:
            conversation = self.service.open_conversation(question)
        if place.thread_ts:  # now, not once answered: a second question in the thread joins it
            store.link_thread(place.channel, place.thread_ts, conversation.conversation_id)
        message = await self.service.ask(conversation, question, visualize=True)
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while message.status not in FINAL and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            message = store.message(message.message_id) or message
        return message

    def _results(self, message: MessageRecord) -> dict[str, StoredResult]:
        """The rows of the message's query attachments."""
        results = {}
        for attachment in message.attachments:
            if "query" in attachment:
                stored = self.service.store.result(attachment["attachment_id"])
                if stored is not None:
                    results[attachment["attachment_id"]] = stored
        return results

    async def _post(
        self, place: Place, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> str:
        """chat.postMessage into the place; the new message's ts."""
        response = await self.client.chat_postMessage(
            channel=place.channel, thread_ts=place.thread_ts, text=text, blocks=blocks
        )
        return str(response["ts"])

    async def _tell(self, place: Place, text: str) -> None:
        """A failure message by whatever way still works: the thread, else the command's
        response_url; if neither does, the log is all that is left."""
        try:
            await self._post(place, text)
            return
        except Exception:
            log.exception("cannot post to Slack channel %s", place.channel)
        if place.respond is not None:
            try:
                await place.respond(text=text, response_type="ephemeral")
            except Exception:
                log.exception("cannot answer the Slack command's response_url either")

    async def _upload_chart(self, channel: str, thread: str, message: MessageRecord) -> None:
        """Uploaded into the thread: a chart referenced from blocks would need a public URL."""
        title = next(
            (a["query"]["title"] for a in message.attachments if "query" in a), message.content
        )
        try:
            data = await asyncio.to_thread(Path(message.chart_path or "").read_bytes)
            await self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread,
                file=data,
                filename=f"chart-{message.message_id[:8]}.png",
                title=title,
            )
        except Exception as exc:
            from slack_sdk.errors import SlackApiError  # loaded already, with the client

            log.exception("uploading the chart of message %s failed", message.message_id)
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else None
            await self._tell(
                Place(channel, thread),
                f"I couldn't attach the chart ({reason or type(exc).__name__}).",
            )


def plain_text(text: str) -> str:
    """A Slack message as the agent should read it: mentions dropped, links and channels as
    their labels, Slack's &amp; &lt; &gt; unescaped, whitespace collapsed."""

    def readable(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "!")):  # users, @here, @channel
            return ""
        if target.startswith("#"):
            return "#" + (label or target[1:])
        return label or target

    text = MARKUP.sub(readable, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def escape(text: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup: they must be escaped, in code blocks too."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_answer(
    message: MessageRecord, results: dict[str, StoredResult], intro: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The message as Slack shows it: (notification text, Block Kit sections)."""
    sections = []
    if message.status == "FAILED":
        error = (message.error or {}).get("error") or "unknown error"
        sections.append(f"{SORRY}: {escape(error)}")
    elif message.status != "COMPLETED":
        sections.append(f"{SORRY} in time: the answer is taking too long, try again later.")
    else:
        for attachment in message.attachments:
            if "query" in attachment:
                query = attachment["query"]
                sections.append(escape(query["description"] or query["title"]))
                sections.append(code_block(query["query"]))
                result = results.get(attachment["attachment_id"])
                if result is not None:
                    sections.append(table(result))
            elif "text" in attachment:
                sections.append(escape(attachment["text"]["content"]))
            elif "suggested_questions" in attachment:
                questions = attachment["suggested_questions"]["questions"]
                sections.append("You could ask:\n" + "\n".join(f"• {escape(q)}" for q in questions))
        if not sections:
            sections.append("I have nothing to show for that question.")
    text = sections[0]
    if intro:
        sections.insert(0, intro)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(s, SECTION_CHARS)}}
        for s in sections
    ]
    return text, blocks


def code_block(code: str) -> str:
    fence = "```"
    room = SECTION_CHARS - 2 * len(fence)
    return fence + _clip(escape(code), room) + fence


def table(result: StoredResult, limit: int = TABLE_ROWS) -> str:
    """The first rows as a monospace table (numbers right-aligned), then how many are left."""
    names = [column["name"] for column in result.columns]
    types = [column["type_name"] for column in result.columns]
    cells = [
        [_cell(value, kind) for value, kind in zip(row, types, strict=True)]
        for row in result.data[:limit]
    ]
    widths = [min(CELL_CHARS, max(map(len, column))) for column in zip(names, *cells, strict=True)]

    def line(values: list[str]) -> str:
        fitted = []
        for value, width, kind in zip(values, widths, types, strict=True):
            value = _clip(value, width)
            fitted.append(value.rjust(width) if kind in NUMERIC else value.ljust(width))
        return "  ".join(fitted).rstrip()

    lines = [line(names), line(["-" * width for width in widths])]
    budget = SECTION_CHARS - 200  # room for the fences and the "more rows" line
    shown = 0
    for row in cells:
        candidate = line(row)
        if sum(len(x) + 1 for x in lines) + len(candidate) > budget:
            break
        lines.append(candidate)
        shown += 1
    text = "```" + escape("\n".join(lines)) + "```"
    more = len(result.data) - shown
    if more:
        text += f"\n… {more:,} more row{'s' if more > 1 else ''}"
    if result.truncated:
        text += " (the result was cut at the row limit)"
    return text


def _cell(value: str | None, kind: str) -> str:
    """Decimals to two places with thousands separators; the rest as the API sends it."""
    if value is None:
        return "—"
    if kind in DECIMALS:
        try:
            return f"{float(value):,.2f}"
        except ValueError:
            return value
    return value


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
