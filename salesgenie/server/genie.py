"""Databricks' Genie Conversation API (/api/2.0/genie/spaces/…), drop-in for its clients.

Paths, bodies and field names are those the databricks-sdk's GenieAPI sends and reads
(../shared/FACTS.md): top-level `conversation_id`/`message_id`, statuses SUBMITTED →
EXECUTING_QUERY → COMPLETED | FAILED, integer-millisecond timestamps, RFC 3339 space times,
query results as a statement_response with typed columns and string values. Deprecated paths
older clients still call are served too. Routes that only read or write the conversation store
(tens of microseconds) are `async def`, and a new message's short wait for its answer awaits the
worker without holding a thread: under load, a thread per waiting request was what made answers
queue. Routes that run a query or send a file stay plain `def`, on FastAPI's thread pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.answer import Answer
from agent.inputs import MAX_QUESTION_CHARS
from salesgenie.server.auth import DOCUMENTED_BEARER
from salesgenie.server.errors import ApiError, not_found
from salesgenie.server.service import SPACE_ID, GenieService, SpaceInfo
from salesgenie.server.store import ConversationRecord, MessageRecord, StoredResult
from semantic_layer.render import space_summary

PREFIX = "/api/2.0/genie/spaces"
MESSAGE = "/{space_id}/conversations/{conversation_id}/messages/{message_id}"
ATTACHMENT = MESSAGE + "/attachments/{attachment_id}"

router = APIRouter(prefix=PREFIX, tags=["genie"], dependencies=DOCUMENTED_BEARER)


class MessageRequest(BaseModel):
    """Body of start-conversation and create-message."""

    content: str
    enable_visualization: bool = False


class FeedbackRequest(BaseModel):
    rating: Literal["POSITIVE", "NEGATIVE", "NONE"]
    comment: str | None = Field(default=None, max_length=10_000)


class Out(BaseModel):
    """Response bodies: unknown keys stay out, absent optional fields are left out."""

    model_config = ConfigDict(extra="forbid")


class Table(Out):
    name: str
    description: str


class Space(Out):
    space_id: str
    title: str
    description: str
    warehouse_id: str
    create_time: str
    update_time: str
    tables: list[Table]  # the connected tables (not in the SDK's dataclass, which ignores it)
    suggested_questions: list[str]


class SpaceList(Out):
    spaces: list[Space]


class ResultMetadata(Out):
    row_count: int
    is_truncated: bool


class QueryAttachment(Out):
    id: str
    title: str
    description: str
    query: str
    statement_id: str
    query_result_metadata: ResultMetadata
    last_updated_timestamp: int


class TextAttachment(Out):
    id: str
    content: str
    purpose: Literal["FOLLOW_UP_QUESTION", "TEXT_ATTACHMENT_PURPOSE_ANSWER"]


class SuggestedQuestions(Out):
    questions: list[str]


class VizAttachment(Out):
    """A chart of a query attachment; its PNG is at …/attachments/{id}/download-visualization."""

    query_attachment_id: str
    title: str


class Attachment(Out):
    attachment_id: str
    query: QueryAttachment | None = None
    text: TextAttachment | None = None
    suggested_questions: SuggestedQuestions | None = None
    viz: VizAttachment | None = None


class MessageError(Out):
    error: str
    type: str


class Feedback(Out):
    rating: str
    comment: str | None = None


class Message(Out):
    message_id: str
    id: str  # legacy alias of message_id
    space_id: str
    conversation_id: str
    content: str
    status: str
    created_timestamp: int
    last_updated_timestamp: int
    attachments: list[Attachment]
    error: MessageError | None = None
    feedback: Feedback | None = None


class Conversation(Out):
    conversation_id: str
    id: str  # legacy alias of conversation_id
    space_id: str
    title: str
    created_timestamp: int
    last_updated_timestamp: int


class StartConversationResponse(Out):
    conversation_id: str
    message_id: str
    conversation: Conversation
    message: Message


class ColumnInfo(Out):
    name: str
    type_name: str
    type_text: str
    position: int


class Schema(Out):
    column_count: int
    columns: list[ColumnInfo]


class Manifest(Out):
    format: Literal["JSON_ARRAY"] = "JSON_ARRAY"
    schema_: Schema = Field(alias="schema")
    total_row_count: int
    truncated: bool

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResultData(Out):
    data_array: list[list[str | None]]
    row_count: int
    row_offset: int = 0
    chunk_index: int = 0


class StatementStatus(Out):
    state: Literal["SUCCEEDED"] = "SUCCEEDED"


class StatementResponse(Out):
    statement_id: str
    status: StatementStatus
    manifest: Manifest
    result: ResultData


class QueryResultResponse(Out):
    statement_response: StatementResponse


def _service(request: Request) -> GenieService:
    return request.app.state.genie


def _space(request: Request) -> Space:
    info: SpaceInfo = request.app.state.space
    summary = space_summary(_service(request).model)
    return Space(
        space_id=info.space_id,
        title=summary["title"],
        description=summary["description"],
        warehouse_id=info.warehouse_id,
        create_time=info.create_time,
        update_time=info.update_time,
        tables=summary["tables"],
        suggested_questions=summary["suggested_questions"],
    )


def _check_space(space_id: str) -> None:
    if space_id != SPACE_ID:
        raise not_found("space", space_id)


def _question(body: MessageRequest) -> str:
    """The cap is checked here, before anything is stored: too long is a bad request."""
    content = body.content.strip()
    if not content:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "content: the question is empty")
    if len(content) > MAX_QUESTION_CHARS:
        raise ApiError(
            400,
            "INVALID_PARAMETER_VALUE",
            f"content: question too long: {len(content):,} characters, "
            f"at most {MAX_QUESTION_CHARS:,}",
        )
    return body.content


def _conversation(service: GenieService, space_id: str, conversation_id: str) -> ConversationRecord:
    _check_space(space_id)
    conversation = service.store.conversation(conversation_id)
    if conversation is None or conversation.space_id != space_id:
        raise not_found("conversation", conversation_id)
    return conversation


def _message(
    service: GenieService, space_id: str, conversation_id: str, message_id: str
) -> MessageRecord:
    _conversation(service, space_id, conversation_id)
    message = service.store.message(message_id)
    if message is None or message.conversation_id != conversation_id:
        raise not_found("message", message_id)
    return message


def _attachment(message: MessageRecord, attachment_id: str | None, kind: str) -> dict[str, Any]:
    """The message's attachment of that kind: the given id, or the first one (old paths)."""
    for attachment in message.attachments:
        if kind in attachment and attachment_id in (None, attachment["attachment_id"]):
            return attachment
    raise not_found(f"{kind} attachment", attachment_id or f"of message {message.message_id}")


def _result(
    service: GenieService, message: MessageRecord, attachment_id: str | None
) -> StoredResult:
    attachment = _attachment(message, attachment_id, "query")
    stored = service.store.result(attachment["attachment_id"])
    if stored is None:  # the attachment exists, so its result must: the store was edited
        raise not_found("query result of attachment", attachment["attachment_id"])
    return stored


def message_body(message: MessageRecord) -> Message:
    return Message(
        message_id=message.message_id,
        id=message.message_id,
        space_id=message.space_id,
        conversation_id=message.conversation_id,
        content=message.content,
        status=message.status,
        created_timestamp=message.created_ms,
        last_updated_timestamp=message.updated_ms,
        attachments=[Attachment.model_validate(a) for a in message.attachments],
        error=MessageError.model_validate(message.error) if message.error else None,
        feedback=Feedback.model_validate(message.feedback) if message.feedback else None,
    )


def result_body(result: StoredResult) -> QueryResultResponse:
    rows = len(result.data)
    return QueryResultResponse(
        statement_response=StatementResponse(
            statement_id=result.statement_id,
            status=StatementStatus(),
            manifest=Manifest(
                schema=Schema(
                    column_count=len(result.columns),
                    columns=[ColumnInfo.model_validate(c) for c in result.columns],
                ),
                total_row_count=rows,
                truncated=result.truncated,
            ),
            result=ResultData(data_array=result.data, row_count=rows),
        )
    )


EXCLUDE_NONE: dict[str, Any] = {"response_model_exclude_none": True}


@router.get("", response_model=SpaceList, **EXCLUDE_NONE)
async def list_spaces(request: Request) -> SpaceList:
    """The one space this server has."""
    return SpaceList(spaces=[_space(request)])


@router.get("/{space_id}", response_model=Space, **EXCLUDE_NONE)
async def get_space(space_id: str, request: Request) -> Space:
    _check_space(space_id)
    return _space(request)


@router.post(
    "/{space_id}/start-conversation", response_model=StartConversationResponse, **EXCLUDE_NONE
)
async def start_conversation(
    space_id: str, body: MessageRequest, request: Request
) -> StartConversationResponse:
    _check_space(space_id)
    question = _question(body)
    service = _service(request)
    conversation = service.open_conversation(question)
    message = await service.ask(conversation, question, body.enable_visualization)
    return StartConversationResponse(
        conversation_id=conversation.conversation_id,
        message_id=message.message_id,
        conversation=Conversation(
            conversation_id=conversation.conversation_id,
            id=conversation.conversation_id,
            space_id=conversation.space_id,
            title=conversation.title,
            created_timestamp=conversation.created_ms,
            last_updated_timestamp=conversation.updated_ms,
        ),
        message=message_body(message),
    )


@router.post(
    "/{space_id}/conversations/{conversation_id}/messages",
    response_model=Message,
    **EXCLUDE_NONE,
)
async def create_message(
    space_id: str, conversation_id: str, body: MessageRequest, request: Request
) -> Message:
    service = _service(request)
    conversation = _conversation(service, space_id, conversation_id)
    question = _question(body)
    message = await service.ask(conversation, question, body.enable_visualization)
    return message_body(message)


@router.get(MESSAGE, response_model=Message, **EXCLUDE_NONE)
async def get_message(
    space_id: str, conversation_id: str, message_id: str, request: Request
) -> Message:
    return message_body(_message(_service(request), space_id, conversation_id, message_id))


@router.get(ATTACHMENT + "/query-result", response_model=QueryResultResponse, **EXCLUDE_NONE)
async def get_attachment_query_result(
    space_id: str, conversation_id: str, message_id: str, attachment_id: str, request: Request
) -> QueryResultResponse:
    service = _service(request)
    message = _message(service, space_id, conversation_id, message_id)
    return result_body(_result(service, message, attachment_id))


@router.get(
    MESSAGE + "/query-result/{attachment_id}", response_model=QueryResultResponse, **EXCLUDE_NONE
)
async def get_query_result_by_attachment(
    space_id: str, conversation_id: str, message_id: str, attachment_id: str, request: Request
) -> QueryResultResponse:
    """Deprecated path of the same result."""
    return await get_attachment_query_result(
        space_id, conversation_id, message_id, attachment_id, request
    )


@router.get(MESSAGE + "/query-result", response_model=QueryResultResponse, **EXCLUDE_NONE)
async def get_message_query_result(
    space_id: str, conversation_id: str, message_id: str, request: Request
) -> QueryResultResponse:
    """Deprecated: the message's first query attachment's result."""
    service = _service(request)
    message = _message(service, space_id, conversation_id, message_id)
    return result_body(_result(service, message, None))


def _execute(
    request: Request, space_id: str, conversation_id: str, message_id: str, aid: str | None
) -> QueryResultResponse:
    service = _service(request)
    message = _message(service, space_id, conversation_id, message_id)
    outcome = service.execute(_result(service, message, aid))
    if isinstance(outcome, Answer):
        raise ApiError(500, "INTERNAL_ERROR", f"{outcome.status}: {outcome.error}")
    return result_body(outcome)


@router.post(ATTACHMENT + "/execute-query", response_model=QueryResultResponse, **EXCLUDE_NONE)
def execute_attachment_query(
    space_id: str, conversation_id: str, message_id: str, attachment_id: str, request: Request
) -> QueryResultResponse:
    """Run the attachment's SQL again on the current data (guarded as the first time)."""
    return _execute(request, space_id, conversation_id, message_id, attachment_id)


@router.post(MESSAGE + "/execute-query", response_model=QueryResultResponse, **EXCLUDE_NONE)
def execute_message_query(
    space_id: str, conversation_id: str, message_id: str, request: Request
) -> QueryResultResponse:
    """Deprecated: run the message's first query attachment again."""
    return _execute(request, space_id, conversation_id, message_id, None)


@router.post(MESSAGE + "/feedback")
async def send_feedback(
    space_id: str, conversation_id: str, message_id: str, body: FeedbackRequest, request: Request
) -> dict[str, Any]:
    """Stored with every earlier rating; the message shows the latest."""
    service = _service(request)
    _message(service, space_id, conversation_id, message_id)
    service.store.add_feedback(message_id, body.rating, body.comment)
    return {}


@router.get(ATTACHMENT + "/download-visualization", response_class=FileResponse)
def download_visualization(
    space_id: str, conversation_id: str, message_id: str, attachment_id: str, request: Request
) -> FileResponse:
    """The viz attachment's PNG (the SDK's download_message_attachment_visualization path)."""
    message = _message(_service(request), space_id, conversation_id, message_id)
    _attachment(message, attachment_id, "viz")
    if message.chart_path is None or not Path(message.chart_path).is_file():
        raise not_found("visualization of attachment", attachment_id)
    return FileResponse(message.chart_path, media_type="image/png")
