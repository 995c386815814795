"""``slow_close``: holds back the close of the destination after the source ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..stream import EOF, INTERRUPTED, StreamChunk
from .base import ToxicStub, int_attribute


@dataclass
class SlowCloseToxic:
    """``delay`` in milliseconds between the source's end and the close of the destination.

    Data passes unchanged. An interrupt during the wait restarts the toxic, which sees the end again and
    waits again with the (possibly new) delay; removing the toxic lets the close through at once.
    """

    go_name: ClassVar[str] = "SlowCloseToxic"
    wire_name: ClassVar[str] = "slow_close"

    delay: int = int_attribute()

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            item = await stub.recv()
            if item is INTERRUPTED:
                return
            if item is EOF:
                if await stub.sleep(self.delay / 1000.0):
                    stub.close()
                return  # interrupted: the closed input shows the end again to whatever runs next
            assert isinstance(item, StreamChunk)
            await stub.send(item)
