"""Answers neither local server gives (older releases, foreign proxies in front), through a fake transport."""

from __future__ import annotations

import httpx
import pytest

from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError


def client_answering(status: int, body: bytes, content_type: str = "text/plain") -> ToxiproxyClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"Content-Type": content_type})

    return ToxiproxyClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"version": "2.12.0"}\n', "2.12.0"),  # 2.7.0 and later
        (b'{"version": "2.6.0"}\\n', "2.6.0"),  # 2.6.0: a literal backslash-n
        (b"2.5.0", "2.5.0"),  # up to 2.5.0: plain text
    ],
)
def test_version_accepts_every_released_format(body: bytes, expected: str) -> None:
    assert client_answering(200, body).version() == expected


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),  # a proxy in front of it
        (405, b"", "Method Not Allowed"),  # empty body: the status phrase
        (503, b'{"unexpected": true}', '{"unexpected": true}'),
    ],
)
def test_error_without_toxiproxy_body_keeps_what_was_said(status: int, body: bytes, message: str) -> None:
    with pytest.raises(ToxiproxyError) as exc_info:
        client_answering(status, body).proxies()
    assert (exc_info.value.status, exc_info.value.message) == (status, message)
    assert str(exc_info.value) == f"HTTP {status}: {message}"
