"""HTTP routes of the DLQ service. The seed's paths and response fields are kept; the rest is added.

=======  ================================  =================================================
method   path                              what
=======  ================================  =================================================
POST     /messages                         dead-letter one message (``Idempotency-Key``)
POST     /messages/batch                   dead-letter many in one transaction
GET      /messages                         list (filters, paging)
GET      /messages/{id}                    one message with its attempts
POST     /messages/{id}/retry              redrive now
POST     /messages/{id}/resolve            mark resolved
POST     /messages/redrive                 bulk redrive by filter, or ``"all": true`` (``dry_run``)
POST     /messages/resolve                 bulk resolve by filter, or ``"all": true`` (``dry_run``)
GET      /stats                            depth by status/service/fingerprint, oldest age
GET      /metrics                          Prometheus
GET      /health                           liveness (no key needed)
GET      /ready                            readiness: the database answers
=======  ================================  =================================================

Creates answer only after the transaction committed, so a 2xx means the message is durable.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator

from resilience import errors
from resilience.dlq.metrics import CONTENT_TYPE, DLQMetrics
from resilience.dlq.models import Message, MessageStatus
from resilience.dlq.schemas import (
    BULK_FILTERS,
    AttemptOut,
    BatchIn,
    BatchItemOut,
    BatchOut,
    BulkIn,
    BulkOut,
    CreatedOut,
    GroupOut,
    MessageDetail,
    MessageIn,
    MessageList,
    MessageSummary,
    StatsOut,
    StatusName,
)
from resilience.dlq.settings import Settings
from resilience.dlq.store import MessageFilter, MessageNotFoundError, NewMessage, Store
from resilience.dlq.worker import RedeliveryWorker

__all__ = ["DLQState", "router"]

router = APIRouter()


@dataclasses.dataclass
class DLQState:
    """What the routes need, kept on ``app.state.dlq``."""

    settings: Settings
    store: Store
    metrics: DLQMetrics
    worker: RedeliveryWorker | None = None


class DatabaseUnavailableError(errors.ResilienceError):
    code: ClassVar[str] = "DATABASE_UNAVAILABLE"
    category: ClassVar[errors.Category] = errors.Category.UPSTREAM_UNAVAILABLE
    retryable: ClassVar[bool] = True
    http_status: ClassVar[int] = 503
    expose_message: ClassVar[bool] = True


class BatchTooLargeError(errors.InvalidRequestError):
    code = "BATCH_TOO_LARGE"
    expose_message = True


class FilterRequiredError(errors.InvalidRequestError):
    """A bulk request without a filter and without ``"all": true`` (or with both)."""

    code = "FILTER_REQUIRED"
    expose_message = True


def _filter(value: str | None) -> str | None:
    """A query filter: empty means "no filter", as in the seed (``?source_queue=&...`` from a URL
    template); NUL is refused because PostgreSQL cannot compare text with NUL in it."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value or None


def _state(request: Request) -> DLQState:
    state: DLQState = request.app.state.dlq
    return state


def _message_id(raw: str) -> str:
    """Canonical form of an id; anything that is not a UUID cannot exist, so it is a 404 at once."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise MessageNotFoundError(f"message {raw!r} not found") from None


def _summary(m: Message) -> dict[str, Any]:
    return {
        "message_id": m.id,
        "source_queue": m.source_queue,
        "destination_service": m.destination_service,
        "error_message": m.error_message,
        "error_type": m.error_type,
        "fingerprint": m.fingerprint,
        "created_at": m.created_at,
        "retry_count": m.retry_count,
        "next_attempt_at": m.next_attempt_at,
        "resolved": m.resolved,
        "status": m.status.value,
    }


def _detail(m: Message) -> MessageDetail:
    return MessageDetail(
        **_summary(m),
        payload=m.payload,
        last_retry_at=m.last_retry_at,
        last_error=m.last_error,
        resolved_at=m.resolved_at,
        attempts=[
            AttemptOut(
                attempted_at=a.attempted_at,
                duration_ms=a.duration_ms,
                outcome=a.outcome.value,
                status_code=a.status_code,
                error=a.error,
                target_url=a.target_url,
            )
            for a in m.attempts
        ],
    )


def _new(item: MessageIn, key: str | None) -> NewMessage:
    return NewMessage(
        source_queue=item.source_queue,
        destination_service=item.destination_service,
        payload=item.payload,
        error_message=item.error_message,
        error_type=item.error_type,
        idempotency_key=key,
    )


IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same key, same message: a repeated create returns the stored message id.",
    ),
]


@router.post("/messages", response_model=CreatedOut, summary="Dead-letter a message")
def create_message(
    body: MessageIn, request: Request, response: Response, idempotency_key: IdempotencyHeader = None
) -> CreatedOut:
    state = _state(request)
    (result,) = state.store.create_many(
        [_new(body, idempotency_key)], initial_delay=state.settings.initial_delay
    )
    if result.created:
        state.metrics.created.inc()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return CreatedOut(message_id=result.message.id, status=result.message.status.value)


@router.post("/messages/batch", response_model=BatchOut, summary="Dead-letter many messages at once")
def create_batch(body: BatchIn, request: Request) -> BatchOut:
    state = _state(request)
    if len(body.messages) > state.settings.max_batch:
        raise BatchTooLargeError(
            f"batch has {len(body.messages)} messages; the maximum is {state.settings.max_batch}"
        )
    results = state.store.create_many(
        [_new(item, item.idempotency_key) for item in body.messages],
        initial_delay=state.settings.initial_delay,
    )
    state.metrics.created.inc(sum(r.created for r in results))
    return BatchOut(
        messages=[
            BatchItemOut(message_id=r.message.id, status=r.message.status.value, created=r.created)
            for r in results
        ]
    )


@router.get("/messages", response_model=MessageList, summary="List messages")
def list_messages(
    request: Request,
    source_queue: Annotated[str | None, Query(max_length=255), AfterValidator(_filter)] = None,
    destination_service: Annotated[str | None, Query(max_length=255), AfterValidator(_filter)] = None,
    resolved: bool | None = None,
    status: StatusName | None = None,
    fingerprint: Annotated[
        str | None, Query(max_length=32, pattern=r"^[0-9a-f]*$"), AfterValidator(_filter)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> MessageList:
    where = MessageFilter(
        source_queue=source_queue,
        destination_service=destination_service,
        resolved=resolved,
        statuses=None if status is None else (MessageStatus(status),),
        fingerprint=fingerprint,
    )
    total, rows = _state(request).store.list_messages(where, limit=limit, offset=offset)
    return MessageList(
        total=total, offset=offset, limit=limit, messages=[MessageSummary(**_summary(m)) for m in rows]
    )


@router.get("/messages/{message_id}", response_model=MessageDetail, summary="One message and its attempts")
def get_message(message_id: Annotated[str, Path(max_length=64)], request: Request) -> MessageDetail:
    return _detail(_state(request).store.get(_message_id(message_id)))


@router.post("/messages/{message_id}/retry", response_model=CreatedOut, summary="Redrive one message now")
async def retry_message(message_id: Annotated[str, Path(max_length=64)], request: Request) -> CreatedOut:
    state = _state(request)
    message = await run_in_threadpool(state.store.redrive, _message_id(message_id))
    if state.worker is not None:
        state.worker.wake()
    return CreatedOut(message_id=message.id, status=message.status.value)


@router.post("/messages/{message_id}/resolve", response_model=CreatedOut, summary="Mark one message resolved")
def resolve_message(message_id: Annotated[str, Path(max_length=64)], request: Request) -> CreatedOut:
    message = _state(request).store.resolve(_message_id(message_id))
    return CreatedOut(message_id=message.id, status=message.status.value)


def _bulk_filter(body: BulkIn, action: str) -> MessageFilter:
    """The selection of a bulk request; an empty one must say ``"all": true`` (dry run or not, so a
    dry run previews exactly what the same request without it would do)."""
    given = body.filters_given()
    if not given and not body.all:
        raise FilterRequiredError(
            f"bulk {action} needs at least one filter ({', '.join(BULK_FILTERS)}), "
            f'or "all": true to {action} every unresolved message (up to limit)'
        )
    if given and body.all:
        raise FilterRequiredError(
            f'"all": true means every unresolved message, but filters were given ({", ".join(given)}): '
            'send either the filters or "all": true, not both'
        )
    return MessageFilter(
        source_queue=body.source_queue,
        destination_service=body.destination_service,
        statuses=None if body.status is None else tuple(MessageStatus(s) for s in body.status),
        fingerprint=body.fingerprint,
        created_after=body.created_after,
        created_before=body.created_before,
    )


@router.post("/messages/redrive", response_model=BulkOut, summary="Redrive every unresolved match")
async def bulk_redrive(body: BulkIn, request: Request) -> BulkOut:
    state = _state(request)
    ids = await run_in_threadpool(
        state.store.bulk,
        _bulk_filter(body, "redrive"),
        action=MessageStatus.RETRYING,
        dry_run=body.dry_run,
        limit=body.limit,
    )
    if ids and not body.dry_run and state.worker is not None:
        state.worker.wake()
    return BulkOut(dry_run=body.dry_run, matched=len(ids), message_ids=ids)


@router.post("/messages/resolve", response_model=BulkOut, summary="Resolve every unresolved match")
def bulk_resolve(body: BulkIn, request: Request) -> BulkOut:
    ids = _state(request).store.bulk(
        _bulk_filter(body, "resolve"), action=MessageStatus.RESOLVED, dry_run=body.dry_run, limit=body.limit
    )
    return BulkOut(dry_run=body.dry_run, matched=len(ids), message_ids=ids)


@router.get("/stats", response_model=StatsOut, summary="Depth, failure groups and oldest age")
def stats(request: Request) -> StatsOut:
    state = _state(request)
    s = state.store.stats(group_window=state.settings.alert_group_window)
    return StatsOut(
        depth_by_status=s.depth_by_status,
        depth_by_service=s.depth_by_service,
        groups=[GroupOut.model_validate(g) for g in s.groups],
        unresolved=s.unresolved,
        oldest_unresolved_age_seconds=s.oldest_unresolved_age_seconds,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)


@router.get("/health", summary="Liveness (no API key needed)")
def health() -> dict[str, str]:
    return {"status": "healthy"}


@router.get("/ready", summary="Readiness: the database answers")
def ready(request: Request) -> dict[str, str]:
    try:
        _state(request).store.ping()
    except Exception as exc:
        raise DatabaseUnavailableError(f"database unavailable: {type(exc).__name__}") from exc
    return {"status": "ready"}
