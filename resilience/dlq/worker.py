"""The redelivery worker: claims due messages, posts them to their destination, records the outcome.

One asyncio task per app (started and stopped with it). Each round claims up to ``worker_batch`` due
messages (atomically, see :mod:`resilience.dlq.store`), delivers them concurrently, and sleeps until
``worker_interval`` passes or :meth:`RedeliveryWorker.wake` is called (an operator's redrive).

Delivery is ``POST {base_url}{delivery_path}`` with the payload as JSON body and the headers
``Idempotency-Key`` (the message id, so a destination can drop the rare duplicate that follows a
replica dying after delivering but before recording it), ``X-DLQ-Message-Id`` and ``X-DLQ-Attempt``.
Within one redelivery, :class:`resilience.retry.Retry` retries transport errors and 408/429/5xx
(``delivery_attempts`` in all, short waits); between redeliveries the schedule is
``resilience.retry.Backoff(backoff_base, backoff_max, backoff_factor, jitter="full")``. A destination's
``Retry-After`` is honoured: the short wait inside a redelivery is the hint (capped at 1 s), and the
next redelivery is no sooner than the hint (capped at one hour, so a bogus header cannot park a
message for days).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import httpx

from resilience._clock import MONOTONIC, Clock
from resilience.dlq.alerts import Alerter
from resilience.dlq.discovery import ServiceResolver
from resilience.dlq.metrics import DLQMetrics
from resilience.dlq.models import MessageStatus
from resilience.dlq.settings import Settings
from resilience.dlq.store import Claim, Outcome, Store
from resilience.errors import ResilienceError
from resilience.retry import Backoff, NonRetryableError, Retry, RetryableError, parse_retry_after

__all__ = ["RedeliveryWorker", "TokenBucket"]

logger = logging.getLogger("resilience.dlq.worker")

_RETRYABLE_STATUS = frozenset({408, 425, 429})
_MAX_CONCURRENT_DELIVERIES = 16
_MAX_RETRY_AFTER = 3600.0
"""Seconds: the longest wait a destination's ``Retry-After`` can impose on the next redelivery."""


class _RetryableStatusError(RetryableError):
    def __init__(self, status_code: int, retry_after: float | None = None) -> None:
        hint = "" if retry_after is None else f" (Retry-After: {retry_after:g}s)"
        super().__init__(f"destination answered HTTP {status_code}{hint}")
        self.status_code = status_code
        self.retry_after = retry_after
        """Seconds the destination asked us to wait; ``resilience.retry`` reads this attribute."""


class _RejectedStatusError(NonRetryableError):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"destination answered HTTP {status_code}")
        self.status_code = status_code


class TokenBucket:
    """Allows ``rate`` acquisitions per second on average, bursts up to ``max(1, rate)``."""

    def __init__(self, rate: float, *, clock: Clock = MONOTONIC) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._clock.async_sleep((1 - self._tokens) / self._rate)


class RedeliveryWorker:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        resolver: ServiceResolver,
        metrics: DLQMetrics,
        alerter: Alerter | None = None,
        now: Callable[[], float] = time.time,
        clock: Clock = MONOTONIC,
    ) -> None:
        self._store = store
        self._settings = settings
        self._http = http
        self._resolver = resolver
        self._metrics = metrics
        self._alerter = alerter
        self._now = now
        self._clock = clock
        self._backoff = Backoff(settings.backoff_base, settings.backoff_max, settings.backoff_factor, "full")
        self._bucket = TokenBucket(settings.redrive_rate, clock=clock) if settings.redrive_rate else None
        self._post = Retry(
            max_attempts=settings.delivery_attempts,
            retry_exceptions=(httpx.TransportError,),
            base_delay=0.1,
            max_delay=1.0,
            jitter="full",
            clock=clock,
            name="resilience.dlq.redelivery",
        )(self._post_once)
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._next_alert_check = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="resilience.dlq.worker")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the deliveries in flight (up to ``grace`` seconds), then stop."""
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(task, grace)
        except TimeoutError:
            logger.warning(
                "dlq worker did not stop within %.1fs; unfinished claims expire with their lease", grace
            )

    def wake(self) -> None:
        """Run the next round now (called after an operator redrive)."""
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.run_once()
                await self._maybe_alert()
            except Exception:
                logger.exception("dlq worker round failed; retrying after the interval")
                delivered = 0
            if delivered >= self._batch_size() or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.worker_interval)
            self._wakeup.clear()

    # -- one round --------------------------------------------------------------------------------

    def _batch_size(self) -> int:
        rate = self._settings.redrive_rate
        return (
            self._settings.worker_batch
            if rate is None
            else min(self._settings.worker_batch, max(1, int(rate)))
        )

    async def run_once(self) -> int:
        """Claim one batch, deliver it concurrently, record every outcome in one transaction.

        Returns how many messages were attempted.
        """
        claims = await asyncio.to_thread(
            self._store.claim_due, limit=self._batch_size(), lease_seconds=self._settings.lease_seconds
        )
        if not claims:
            return 0
        limit = asyncio.Semaphore(_MAX_CONCURRENT_DELIVERIES)

        async def one(claim: Claim) -> Outcome:
            if self._bucket is not None:
                await self._bucket.acquire()
            async with limit:
                return await self.deliver(claim)

        outcomes = await asyncio.gather(*(one(c) for c in claims))
        statuses = await asyncio.to_thread(
            self._store.finish,
            outcomes,
            max_attempts=self._settings.max_attempts,
            next_delay=self._backoff.delay,
        )
        for outcome, status in zip(outcomes, statuses, strict=True):
            self._report(outcome, status)
        return len(claims)

    async def deliver(self, claim: Claim) -> Outcome:
        """Post one claimed message to its destination (nothing is recorded here)."""
        attempted_at = self._now()
        started = time.perf_counter()
        target: str | None = None
        status_code: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            target = await self._resolver.resolve(claim.destination_service) + self._settings.delivery_path
            status_code = await self._post(target, claim)
        except _RetryableStatusError as exc:
            status_code, error = exc.status_code, str(exc)
            if exc.retry_after is not None:
                retry_after = min(exc.retry_after, _MAX_RETRY_AFTER)
        except _RejectedStatusError as exc:
            status_code, error = exc.status_code, str(exc)
        except Exception as exc:
            # Anything else (a payload httpx cannot encode, a resolver bug) fails this message alone:
            # raising would abandon every claim of the round until their leases expire, round after round.
            if not isinstance(exc, httpx.HTTPError | ResilienceError):
                logger.exception("dlq delivery of %s failed unexpectedly", claim.message_id)
            error = f"{type(exc).__name__}: {exc}"
        return Outcome(
            claim=claim,
            attempted_at=attempted_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            success=error is None,
            status_code=status_code,
            error=error,
            target_url=target,
            retry_after=retry_after,
        )

    def _report(self, outcome: Outcome, status: MessageStatus | None) -> None:
        self._metrics.redeliveries.labels(outcome="success" if outcome.success else "failure").inc()
        if status is MessageStatus.FAILED:
            self._metrics.failures.inc()
        fields = {
            "message_id": outcome.claim.message_id,
            "service": outcome.claim.destination_service,
            "target": outcome.target_url,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "new_status": status.value if status else None,
            "duration_ms": round(outcome.duration_ms, 1),
        }
        text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        if status is None:
            logger.error(
                "dlq claim expired during delivery; another replica owns it now %s", text, extra=fields
            )
        elif outcome.success:
            logger.info("dlq redelivered %s", text, extra=fields)
        else:
            logger.warning("dlq redelivery failed %s", text, extra=fields)

    async def _post_once(self, url: str, claim: Claim) -> int:
        response = await self._http.post(
            url,
            json=claim.payload,
            timeout=self._settings.delivery_timeout,
            headers={
                "Idempotency-Key": claim.message_id,
                "X-DLQ-Message-Id": claim.message_id,
                "X-DLQ-Attempt": str(claim.retry_count + 1),
            },
        )
        code = response.status_code
        if 200 <= code < 300:
            return code
        if code >= 500 or code in _RETRYABLE_STATUS:
            raise _RetryableStatusError(code, parse_retry_after(response.headers.get("Retry-After")))
        raise _RejectedStatusError(code)

    async def _maybe_alert(self) -> None:
        if self._alerter is None or not self._alerter.enabled:
            return
        now = self._clock.monotonic()
        if now < self._next_alert_check:
            return
        self._next_alert_check = now + self._settings.alert_interval
        stats = await asyncio.to_thread(self._store.stats, group_window=self._settings.alert_group_window)
        await self._alerter.check(stats)
