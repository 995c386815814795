"""``noop``: passes data through unchanged; the template every other toxic's loop follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import ToxicStub


@dataclass
class NoopToxic:
    """No attributes (shown as ``{}``); also the hidden head of every chain and the pass-through."""

    go_name: ClassVar[str] = "NoopToxic"
    wire_name: ClassVar[str] = "noop"

    async def pipe(self, stub: ToxicStub) -> None:
        async for item in stub.chunks():
            await stub.send(item)
