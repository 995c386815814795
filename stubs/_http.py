"""One TLS context per process for every httpx client the stubs and the gateway create.

httpx builds a fresh context for each client (loading the CA bundle, ~150 ms on a busy machine),
which made starting a gateway or a stub controller visibly slow; the context is immutable once made,
so sharing it is safe.
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
