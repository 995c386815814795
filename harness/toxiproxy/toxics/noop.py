"""``noop``: passes data through unchanged; the template every other toxic's loop follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..stream import EOF, INTERRUPTED, StreamChunk
from .base import ToxicStub


@dataclass
class NoopToxic:
    """No attributes (shown as ``{}``); also the hidden head of every chain and the pass-through."""

    go_name: ClassVar[str] = "NoopToxic"
    wire_name: ClassVar[str] = "noop"

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            item = await stub.recv()
            if item is INTERRUPTED:
                return
            if item is EOF:
                stub.close()
                return
            assert isinstance(item, StreamChunk)
            await stub.send(item)
