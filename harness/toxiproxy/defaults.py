"""Toxiproxy names the CLI shows in its help; no imports, so ``harness --help`` stays light."""

from __future__ import annotations

import enum

DEFAULT_URL = "http://127.0.0.1:8474"
ENV_URL = "TOXIPROXY_URL"


class ToxiproxyKind(enum.StrEnum):
    """Where the Toxiproxy comes from."""

    URL = "url"
    BINARY = "binary"
    DOCKER = "docker"
    EMBEDDED = "embedded"
