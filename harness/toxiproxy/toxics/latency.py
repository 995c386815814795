"""``latency``: delays every chunk by ``latency`` ms, plus or minus ``jitter`` ms."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from .base import ToxicStub, int_attribute


@dataclass
class LatencyToxic:
    """``latency`` and ``jitter`` in milliseconds.

    Each chunk leaves at ``read time + latency + d``, d a whole number of ms drawn uniformly from
    [-jitter, +jitter) when jitter > 0; the wait runs from the chunk's read time, so chunks in flight
    overlap instead of piling up. The chunk's timestamp then moves forward by the delay, so latency toxics
    in a chain add up. A delay of zero or less means no wait; a negative jitter is ignored (as in Go).
    """

    go_name: ClassVar[str] = "LatencyToxic"
    wire_name: ClassVar[str] = "latency"
    buffer_size: ClassVar[int] = 1024  # chunks in flight, as in Toxiproxy

    latency: int = int_attribute()
    jitter: int = int_attribute()

    def delay(self, stub: ToxicStub) -> float:
        """This chunk's delay in seconds."""
        ms = self.latency
        if self.jitter > 0:
            ms += stub.rng.randrange(-self.jitter, self.jitter)
        return ms / 1000.0

    async def pipe(self, stub: ToxicStub) -> None:
        async for item in stub.chunks():
            delay = self.delay(stub)
            wait = item.timestamp + delay - time.monotonic()
            if not await stub.sleep(wait):
                await stub.send(item)  # interrupted: pass the chunk on without the rest of the wait
                return
            if delay > 0:
                item.timestamp += delay
            await stub.send(item)
