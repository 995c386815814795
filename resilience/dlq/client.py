"""DLQ client: dead-letter a message once, after the final attempt, and never lose it.

- :meth:`DLQClient.send` posts one message with an ``Idempotency-Key`` (generated unless given). If
  the DLQ is unreachable (connection error, timeout, 408/429/5xx) and a ``spool_path`` is set, the
  message goes to a durable local spool instead (SQLite, WAL, ``synchronous=FULL``: on disk before
  ``send`` returns) and :class:`SendResult` says ``spooled=True``.
- :meth:`DLQClient.flush` re-sends spooled messages in order with their original keys, so a message
  that did reach the DLQ before a timeout is not stored twice. ``send`` also flushes after every
  successful post. A message the DLQ rejects (4xx other than 408/429) is kept, marked rejected,
  and skipped by later flushes; :meth:`DLQClient.rejected` lists them.
- :func:`dead_letter_on_failure` wraps a (sync or async) function so that an exception escaping it
  is dead-lettered once and re-raised. Put it *outside* ``retry``, so it sees only the final failure::

      @dead_letter_on_failure(client, source_queue="orders", destination_service="billing")
      @retry(max_attempts=3, retry_exceptions=ConnectionError)
      def process(message: dict) -> None: ...

Only httpx and the standard library are imported here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

import httpx

from resilience import errors

__all__ = [
    "DLQClient",
    "DLQRejectedError",
    "DLQUnavailableError",
    "SendResult",
    "dead_letter_on_failure",
    "default_client",
    "send_to_dead_letter_queue",
]

logger = logging.getLogger("resilience.dlq.client")

P = ParamSpec("P")
T = TypeVar("T")

_UNAVAILABLE_STATUS = frozenset({408, 425, 429})

SEED_SOURCE_QUEUE = "main-queue"
SEED_DESTINATION_SERVICE = "processing-service"
SEED_DLQ_URL = "http://dead-letter-queue"
"""The seed's defaults for the two-argument ``send_to_dead_letter_queue(message, error_message)``."""


class DLQUnavailableError(errors.UpstreamUnavailableError):
    """The DLQ could not be reached and no spool is configured."""

    code = "DLQ_UNAVAILABLE"


class DLQRejectedError(errors.InvalidRequestError):
    """The DLQ refused the message (4xx); ``status_code`` and ``body`` say why."""

    code = "DLQ_REJECTED"

    def __init__(self, message: str, *, status_code: int, body: str) -> None:
        super().__init__(message, status_code=status_code)
        self.status_code = status_code
        self.body = body


@dataclasses.dataclass(frozen=True)
class SendResult:
    idempotency_key: str
    message_id: str | None
    """The DLQ's id for the message; ``None`` while it waits in the spool."""
    spooled: bool


class _Spool:
    """A durable FIFO of request bodies keyed by idempotency key (one SQLite file, thread-safe)."""

    def __init__(self, path: Path) -> None:
        """Open (creating it and its directory if needed) the spool at ``path``; a ``ValueError``
        naming the path if it cannot be used (unwritable directory, a file that is not SQLite)."""
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise ValueError(f"cannot open the DLQ spool at {path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " idempotency_key TEXT NOT NULL UNIQUE, body TEXT NOT NULL, spooled_at REAL NOT NULL,"
                " rejected INTEGER NOT NULL DEFAULT 0, last_error TEXT)"
            )
        except sqlite3.Error as exc:
            self._db.close()
            raise ValueError(f"cannot open the DLQ spool at {path}: {exc}") from None

    def put(self, key: str, body: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO spool (idempotency_key, body, spooled_at) VALUES (?, ?, ?)",
                (key, body, time.time()),
            )

    def pending(self, limit: int) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT idempotency_key, body FROM spool WHERE rejected = 0 ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(str(k), str(b)) for k, b in rows]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM spool WHERE rejected = 0").fetchone()
        return int(n)

    def remove(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spool WHERE idempotency_key = ?", (key,))

    def reject(self, key: str, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE spool SET rejected = 1, last_error = ? WHERE idempotency_key = ?", (error, key)
            )

    def rejected(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT idempotency_key, body, last_error FROM spool WHERE rejected = 1 ORDER BY seq"
            ).fetchall()
        return [{"idempotency_key": k, "body": json.loads(b), "error": e} for k, b, e in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


_default_client: DLQClient | None = None
_default_lock = threading.Lock()


class _Unreachable(Exception):
    """Internal: the DLQ did not answer usefully; the message must be spooled."""


class DLQClient:
    """Sends dead letters to a DLQ service at ``base_url``.

    Args:
        base_url: the service's root, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <key>``.
        spool_path: file of the durable spool; ``None`` means no spool (an unreachable DLQ raises
            :class:`DLQUnavailableError`). Several clients may share one file. A path that cannot be
            used raises ``ValueError`` naming it.
        timeout: seconds for each HTTP call (default 5.0).
        transport: an httpx transport (tests, proxies).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        spool_path: str | Path | None = None,
        timeout: float = 5.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._spool = _Spool(Path(spool_path)) if spool_path is not None else None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self._flush_lock = threading.Lock()

    def __enter__(self) -> DLQClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        if self._spool is not None:
            self._spool.close()

    def send(
        self,
        payload: Mapping[str, Any],
        error_message: str,
        *,
        source_queue: str,
        destination_service: str,
        error_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """Dead-letter one message; spool it if the DLQ is unreachable (see the module doc).

        Raises :class:`DLQRejectedError` if the DLQ refuses it, :class:`DLQUnavailableError` if it is
        unreachable and there is no spool.
        """
        key = idempotency_key or str(uuid.uuid4())
        body: dict[str, Any] = {
            "source_queue": source_queue,
            "destination_service": destination_service,
            "payload": dict(payload),
            "error_message": error_message,
        }
        if error_type is not None:
            body["error_type"] = error_type
        text = json.dumps(body, default=str)
        try:
            message_id = self._post(key, text)
        except _Unreachable as exc:
            if self._spool is None:
                raise DLQUnavailableError(f"dead-letter queue unreachable: {exc}") from exc
            self._spool.put(key, text)
            logger.warning("dlq unreachable (%s); spooled message key=%s", exc, key)
            return SendResult(key, None, spooled=True)
        if self._spool is not None and self._spool.count():
            self.flush()
        return SendResult(key, message_id, spooled=False)

    async def asend(
        self,
        payload: Mapping[str, Any],
        error_message: str,
        *,
        source_queue: str,
        destination_service: str,
        error_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """:meth:`send` from async code (runs in a worker thread; never blocks the loop)."""
        return await asyncio.to_thread(
            functools.partial(
                self.send,
                payload,
                error_message,
                source_queue=source_queue,
                destination_service=destination_service,
                error_type=error_type,
                idempotency_key=idempotency_key,
            )
        )

    def send_to_dead_letter_queue(
        self,
        message: Any,
        error_message: str,
        *,
        source_queue: str = SEED_SOURCE_QUEUE,
        destination_service: str = SEED_DESTINATION_SERVICE,
        error_type: str | None = None,
    ) -> bool:
        """The seed's call: ``True`` once the message is safe (stored by the DLQ or spooled).

        A non-mapping ``message`` is sent as ``{"value": message}``. Never raises: failures are logged
        and answered ``False``, as in the seed. ``source_queue`` and ``destination_service`` default to
        the seed's ``"main-queue"`` and ``"processing-service"``.
        """
        try:
            self.send(
                _as_payload(message),
                error_message,
                source_queue=source_queue,
                destination_service=destination_service,
                error_type=error_type,
            )
        except (DLQRejectedError, DLQUnavailableError) as exc:
            logger.error("failed to send to dead letter queue: %s", exc)
            return False
        return True

    def flush(self, *, batch: int = 100) -> int:
        """Send spooled messages, oldest first, until the spool is empty or the DLQ stops answering.

        Returns how many were delivered. Safe to call concurrently (one flush runs at a time).
        """
        if self._spool is None:
            return 0
        delivered = 0
        with self._flush_lock:
            while entries := self._spool.pending(batch):
                for key, text in entries:
                    try:
                        self._post(key, text)
                    except _Unreachable:
                        return delivered
                    except DLQRejectedError as exc:
                        logger.error("dlq rejected spooled message key=%s: %s", key, exc)
                        self._spool.reject(key, f"HTTP {exc.status_code}: {exc.body}")
                        continue
                    self._spool.remove(key)
                    delivered += 1
        return delivered

    def spooled(self) -> int:
        """Messages waiting in the spool (rejected ones excluded)."""
        return 0 if self._spool is None else self._spool.count()

    def rejected(self) -> list[dict[str, Any]]:
        """Spooled messages the DLQ refused: idempotency key, request body and the DLQ's answer."""
        return [] if self._spool is None else self._spool.rejected()

    def _post(self, key: str, text: str) -> str:
        try:
            response = self._http.post(
                "/messages",
                content=text,
                headers={"Content-Type": "application/json", "Idempotency-Key": key},
            )
        except httpx.TransportError as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return str(response.json()["message_id"])
        if status >= 500 or status in _UNAVAILABLE_STATUS:
            raise _Unreachable(f"HTTP {status}")
        raise DLQRejectedError(
            f"dead-letter queue rejected the message: HTTP {status}", status_code=status, body=response.text
        )


def _as_payload(message: Any) -> Mapping[str, Any]:
    return message if isinstance(message, Mapping) else {"value": message}


def default_client() -> DLQClient:
    """The process-wide client of :func:`send_to_dead_letter_queue` when it is given none, built once
    from ``DLQ_URL`` (default ``http://dead-letter-queue``, the seed's host), ``DLQ_API_KEY`` and
    ``DLQ_SPOOL_PATH`` (no spool when unset)."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = DLQClient(
                os.environ.get("DLQ_URL") or SEED_DLQ_URL,
                api_key=os.environ.get("DLQ_API_KEY") or None,
                spool_path=os.environ.get("DLQ_SPOOL_PATH") or None,
            )
        return _default_client


def send_to_dead_letter_queue(
    message: Any,
    error_message: str,
    *,
    source_queue: str = SEED_SOURCE_QUEUE,
    destination_service: str = SEED_DESTINATION_SERVICE,
    client: DLQClient | None = None,
    error_type: str | None = None,
) -> bool:
    """Module-level form of :meth:`DLQClient.send_to_dead_letter_queue`: the seed's free function, so
    ``send_to_dead_letter_queue(message, str(e))`` works as written (``client`` defaults to
    :func:`default_client`)."""
    return (client or default_client()).send_to_dead_letter_queue(
        message, error_message, source_queue=source_queue, destination_service=destination_service,
        error_type=error_type,
    )  # fmt: skip


def _describe(exc: BaseException) -> tuple[str, str]:
    """``(error_type, error_message)`` of the failure; a retry's give-up error reports its cause."""
    if isinstance(exc, errors.RetryError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__, str(exc) or type(exc).__name__


def dead_letter_on_failure(
    client: DLQClient,
    *,
    source_queue: str,
    destination_service: str,
    payload: Callable[..., Any] | None = None,
    exceptions: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Dead-letter the input of a failing call once, then re-raise the failure.

    Args:
        client: where to send it.
        source_queue / destination_service: as in the DLQ's message.
        payload: builds the payload from the call's arguments (default: the first positional
            argument, else the ``message`` keyword); a non-mapping is sent as ``{"value": ...}``.
        exceptions: which failures are dead-lettered (default any ``Exception``).

    Place it outside ``retry`` (listed above it), or every attempt is dead-lettered. If
    dead-lettering itself fails, the original error is still raised, with a note saying so.
    """

    def letter(exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of :meth:`DLQClient.send` for this failure."""
        error_type, text = _describe(exc)
        if payload is not None:
            built = payload(*args, **kwargs)
        else:
            built = args[0] if args else kwargs.get("message")
        return {
            "payload": _as_payload(built),
            "error_message": text,
            "error_type": error_type,
            "source_queue": source_queue,
            "destination_service": destination_service,
        }

    def report(exc: BaseException, result: SendResult | BaseException) -> None:
        if isinstance(result, BaseException):
            logger.error("dead-lettering failed: %s", result)
            exc.add_note(f"dead-lettering this failure also failed: {result}")
        else:
            logger.warning(
                "dead-lettered after failure %s key=%s id=%s spooled=%s",
                type(exc).__name__, result.idempotency_key, result.message_id, result.spooled,
            )  # fmt: skip

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    return await func(*args, **kwargs)
                except exceptions as exc:
                    result: SendResult | BaseException
                    try:
                        result = await client.asend(**letter(exc, args, kwargs))
                    except (DLQRejectedError, DLQUnavailableError) as send_error:
                        result = send_error
                    report(exc, result)
                    raise

            return cast(Callable[P, T], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return func(*args, **kwargs)
            except exceptions as exc:
                result: SendResult | BaseException
                try:
                    result = client.send(**letter(exc, args, kwargs))
                except (DLQRejectedError, DLQUnavailableError) as send_error:
                    result = send_error
                report(exc, result)
                raise

        return wrapper

    return decorate
