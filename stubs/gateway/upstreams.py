"""Talk HTTP to one upstream and translate every answer into a value or a classified error.

This is the edge where foreign failures become the gateway's vocabulary, once:

=====================================  ===================================  retried, tripping?
answer                                 raised                               (see UPSTREAM_FAILURES)
=====================================  ===================================  ==================
2xx with a JSON body                   (the parsed body)                    -
2xx with a broken body                 :class:`UpstreamPayloadError`        yes
404                                    :class:`UpstreamNotFoundError`       no
429, 5xx                               :class:`UpstreamStatusError`         yes (Retry-After kept)
other 4xx                              :class:`UpstreamRejectedError`       no
connect/read errors, dropped sockets   ``httpx.TransportError``             yes
attempt longer than its timeout        ``TimeoutError`` (from the policy)   yes
=====================================  ===================================  ==================

"No" errors are :class:`~resilience.retry.NonRetryableError`: the policy neither retries them nor
serves a fallback for them, and the gateway's breakers ignore them (the request was wrong, the
upstream is fine); the error middleware answers them with their own status.
"""

from __future__ import annotations

from typing import Any

import httpx

from resilience.errors import InvalidRequestError, NotFoundError, UpstreamUnavailableError
from resilience.retry import NonRetryableError, parse_retry_after
from stubs._http import tls_context

__all__ = [
    "UPSTREAM_FAILURES",
    "UpstreamClient",
    "UpstreamNotFoundError",
    "UpstreamPayloadError",
    "UpstreamRejectedError",
    "UpstreamStatusError",
]


class UpstreamStatusError(UpstreamUnavailableError):
    """The upstream answered 429 or 5xx; ``retry_after`` (seconds) is its hint, if any."""

    code = "UPSTREAM_ERROR"

    def __init__(self, upstream: str, status: int, retry_after: float | None) -> None:
        super().__init__(f"{upstream} answered HTTP {status}", upstream=upstream, upstream_status=status)
        self.status = status
        self.retry_after = retry_after


class UpstreamPayloadError(UpstreamUnavailableError):
    """The upstream answered 2xx but the body was not the JSON it promised."""

    code = "UPSTREAM_BAD_PAYLOAD"


class UpstreamNotFoundError(NotFoundError, NonRetryableError):
    """The upstream says the thing asked for does not exist (404)."""


class UpstreamRejectedError(InvalidRequestError, NonRetryableError):
    """The upstream refused the request (4xx other than 404/429): retrying would not help."""

    code = "UPSTREAM_REJECTED"


UPSTREAM_FAILURES: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    TimeoutError,
    UpstreamStatusError,
    UpstreamPayloadError,
)
"""Failures that mean "the upstream is unwell" (retried, counted by breakers, served by fallbacks)."""


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After``: delta-seconds or an HTTP-date; ``None`` if absent or malformed."""
    return parse_retry_after(response.headers.get("retry-after"))


class UpstreamClient:
    """One pooled ``httpx.AsyncClient`` per upstream.

    ``timeout`` is httpx's per-operation backstop only: the policy's per-attempt timeout bounds the
    whole attempt, body included (httpx's own timeouts restart on every chunk, so a dripping body
    would evade them).
    """

    def __init__(self, name: str, base_url: str, *, timeout: float) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            verify=tls_context(),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One attempt: the parsed JSON body, or one of the errors in the module table."""
        response = await self._http.request(method, path, json=json, headers=headers)
        status = response.status_code
        if status == 404:
            raise UpstreamNotFoundError(f"{self.name}: {path} not found", upstream=self.name)
        if status == 429 or status >= 500:
            raise UpstreamStatusError(self.name, status, _retry_after(response))
        if status >= 400:
            raise UpstreamRejectedError(
                f"{self.name} rejected the request: HTTP {status}", upstream=self.name
            )
        try:
            return response.json()
        except ValueError:
            raise UpstreamPayloadError(f"{self.name} sent a body that is not valid JSON") from None

    async def aclose(self) -> None:
        await self._http.aclose()
