"""Request and response bodies of the DLQ API (pydantic 2), strict: unknown fields are rejected,
strings are not coerced from numbers, and text fields refuse NUL characters (PostgreSQL cannot store
them). Response shapes extend the seed's without renaming any of its fields.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr

__all__ = [
    "BULK_FILTERS",
    "AttemptOut",
    "BatchIn",
    "BatchItemIn",
    "BatchOut",
    "BulkIn",
    "BulkOut",
    "CreatedOut",
    "GroupOut",
    "MessageDetail",
    "MessageIn",
    "MessageList",
    "MessageSummary",
    "StatsOut",
    "StatusName",
]

StatusName = Literal["PENDING", "RETRYING", "RESOLVED", "FAILED"]
MAX_PAYLOAD_DEPTH = 64
"""Deepest nesting of a payload: pydantic cannot serialise a response nested ~255 levels deep, so a
deeper payload could be stored and then never read back."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def _finite_json(value: dict[str, Any]) -> dict[str, Any]:
    """The payload must survive being sent on as UTF-8 JSON: no NaN/Infinity, no lone surrogates
    (``"\\ud800"`` parses, but cannot be encoded again: it could be stored, never read or redelivered)."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "payload must be valid Unicode (it contains a lone surrogate such as \\ud800)"
        ) from None
    except ValueError as exc:
        raise ValueError(f"payload must be plain JSON without NaN or Infinity ({exc})") from None
    if _depth(value) > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"payload nests objects and arrays deeper than {MAX_PAYLOAD_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


Name = Annotated[StrictStr, Field(min_length=1, max_length=255), AfterValidator(_no_nul)]
Text = Annotated[StrictStr, Field(max_length=65_536), AfterValidator(_no_nul)]
IdempotencyKey = Annotated[StrictStr, Field(min_length=1, max_length=255), AfterValidator(_no_nul)]
Payload = Annotated[dict[str, Any], AfterValidator(_finite_json)]
Timestamp = Annotated[float, Field(ge=0, le=1e11, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Strict):
    """A message that could not be processed (the seed's body, plus an optional ``error_type``)."""

    source_queue: Name
    destination_service: Name
    payload: Payload
    error_message: Text
    error_type: Name | None = Field(
        default=None, description="Exception class name; defaults to a 'SomeError: ' prefix of error_message."
    )


class BatchItemIn(MessageIn):
    idempotency_key: IdempotencyKey | None = None


class BatchIn(_Strict):
    messages: list[BatchItemIn] = Field(min_length=1)


class CreatedOut(BaseModel):
    message_id: str
    status: StatusName


class BatchItemOut(CreatedOut):
    created: bool


class BatchOut(BaseModel):
    messages: list[BatchItemOut]


class MessageSummary(BaseModel):
    message_id: str
    source_queue: str
    destination_service: str
    error_message: str
    error_type: str
    fingerprint: str
    created_at: float
    retry_count: int
    next_attempt_at: float | None
    resolved: bool
    status: StatusName


class AttemptOut(BaseModel):
    attempted_at: float
    duration_ms: float
    outcome: Literal["SUCCESS", "FAILURE"]
    status_code: int | None
    error: str | None
    target_url: str | None


class MessageDetail(MessageSummary):
    payload: dict[str, Any]
    last_retry_at: float | None
    last_error: str | None
    resolved_at: float | None
    attempts: list[AttemptOut]


class MessageList(BaseModel):
    total: int
    offset: int
    limit: int
    messages: list[MessageSummary]


class BulkIn(_Strict):
    """Selects unresolved messages; every given condition must hold. ``dry_run`` changes nothing.

    At least one filter (:data:`BULK_FILTERS`) is required, or ``"all": true`` (and then no filter)
    to act on every unresolved message; the API refuses anything else with 400 ``FILTER_REQUIRED``,
    so an empty body ``{}`` cannot resolve or redrive the whole queue by accident.
    """

    source_queue: Name | None = None
    destination_service: Name | None = None
    status: list[Literal["PENDING", "RETRYING", "FAILED"]] | None = Field(default=None, min_length=1)
    fingerprint: Name | None = None
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    all: StrictBool = Field(
        default=False,
        description="Act on every unresolved message (up to limit); required when no filter is given, "
        "and refused together with one.",
    )
    limit: int = Field(default=1000, ge=1, le=10_000)
    dry_run: StrictBool = False

    def filters_given(self) -> list[str]:
        """Names of the filters this request sets."""
        return [name for name in BULK_FILTERS if getattr(self, name) is not None]


BULK_FILTERS = (
    "source_queue",
    "destination_service",
    "status",
    "fingerprint",
    "created_after",
    "created_before",
)
"""The fields of :class:`BulkIn` that narrow the selection (``limit`` only caps it)."""


class BulkOut(BaseModel):
    dry_run: bool
    matched: int
    """Messages that moved (or would move, with ``dry_run``)."""
    message_ids: list[str]


class GroupOut(BaseModel):
    fingerprint: str
    error_type: str
    normalized_message: str
    first_seen: float
    last_seen: float
    message_count: int
    redelivery_failures: int
    depth: int
    recent: int | None = None


class StatsOut(BaseModel):
    depth_by_status: dict[str, int]
    depth_by_service: dict[str, int]
    groups: list[GroupOut]
    unresolved: int
    oldest_unresolved_age_seconds: float | None
