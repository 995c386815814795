"""``limit_data``: closes the connection once ``bytes`` bytes have passed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..stream import StreamChunk
from .base import ToxicStub, int_attribute


class ByteCount:
    """Bytes this toxic has passed on one link; kept across updates of the toxic."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


@dataclass
class LimitDataToxic:
    """``bytes``: how many bytes may pass on each link before it closes; the crossing chunk is cut short.

    The count starts when the connection starts or the toxic is added, and survives updates: with 7 bytes
    passed and ``bytes`` raised to 15, 8 more pass. ``bytes`` <= 0 closes on the first chunk, passing nothing.
    """

    go_name: ClassVar[str] = "LimitDataToxic"
    wire_name: ClassVar[str] = "limit_data"

    bytes: int = int_attribute()

    def new_state(self) -> ByteCount:
        return ByteCount()

    async def pipe(self, stub: ToxicStub) -> None:
        count: ByteCount = stub.state
        async for item in stub.chunks():
            remaining = max(self.bytes - count.sent, 0)
            data = item.data[:remaining] if remaining < len(item.data) else item.data
            if data:
                await stub.send(StreamChunk(data, item.timestamp))
                count.sent += len(data)
            if self.bytes - count.sent <= 0:
                stub.close()
                return
