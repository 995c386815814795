"""``bandwidth``: limits a link to ``rate`` KB/s (1 KB = 1000 bytes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from ..stream import StreamChunk
from .base import ToxicStub, int_attribute, require_at_least

SLICE = 0.1  # seconds: a chunk bigger than rate*100 bytes goes out in pieces of that size, one per SLICE


@dataclass
class BandwidthToxic:
    """``rate`` in KB/s, 1 KB = 1000 bytes, so a chunk of n bytes costs n/rate ms.

    Big chunks are cut into ``rate*100``-byte pieces sent every 100 ms; then the rest of the cost is slept,
    carrying each sleep's overshoot into the next so the long-run rate stays exact. ``rate`` 0 stalls the
    link until the toxic is removed (held data is then passed on). A negative rate crashes the real server;
    here it is refused with a 400.
    """

    go_name: ClassVar[str] = "BandwidthToxic"
    wire_name: ClassVar[str] = "bandwidth"

    rate: int = int_attribute()

    def __post_init__(self) -> None:
        require_at_least(self, "rate", 0)

    async def pipe(self, stub: ToxicStub) -> None:
        debt = 0.0  # seconds owed for bytes already passed on (negative: sleeps overshot)
        async for item in stub.chunks():
            left = await self._send_at_rate(stub, item, debt if self.rate > 0 else 0.0)
            if left is None:
                return
            debt = left

    async def _send_at_rate(self, stub: ToxicStub, chunk: StreamChunk, debt: float) -> float | None:
        """Send ``chunk`` at the rate and return the debt carried on; None if interrupted meanwhile."""
        piece = self.rate * 100
        if self.rate > 0:
            debt += len(chunk.data) / (self.rate * 1000.0)
        data = chunk.data
        while len(data) > piece:  # with rate 0 this never ends: the stall of the real server
            if not await stub.sleep(SLICE):
                await stub.send_within(StreamChunk(data, chunk.timestamp))
                return None
            if piece:
                await stub.send(StreamChunk(data[:piece], chunk.timestamp))
                data = data[piece:]
            debt -= SLICE
        start = time.monotonic()
        if not await stub.sleep(debt):
            await stub.send_within(StreamChunk(data, chunk.timestamp))
            return None
        await stub.send(StreamChunk(data, chunk.timestamp))
        return debt - (time.monotonic() - start)
