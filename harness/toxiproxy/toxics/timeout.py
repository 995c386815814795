"""``timeout``: drops all data, then closes the connection ``timeout`` ms after the last chunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..stream import EOF, INTERRUPTED, TIMEOUT
from .base import ToxicStub, int_attribute


@dataclass
class TimeoutToxic:
    """``timeout`` in milliseconds; 0 or less means never close (data is dropped until the toxic is removed).

    Each dropped chunk restarts the timer. Removing the toxic from a live link closes that link, and so
    the connection, even where the toxicity draw chose pass-through (the :meth:`cleanup` capability).
    """

    go_name: ClassVar[str] = "TimeoutToxic"
    wire_name: ClassVar[str] = "timeout"

    timeout: int = int_attribute()

    async def pipe(self, stub: ToxicStub) -> None:
        limit = self.timeout / 1000.0 if self.timeout > 0 else None
        while True:
            item = await stub.recv(limit)
            if item is INTERRUPTED:
                return
            if item is EOF or item is TIMEOUT:
                stub.close()
                return
            # a chunk: dropped on the floor

    def cleanup(self, stub: ToxicStub) -> None:
        stub.close()
