"""``slicer``: cuts each chunk into smaller pieces, optionally with a pause after each."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import ClassVar

from ..stream import StreamChunk
from .base import InvalidAttribute, ToxicStub, int_attribute, require_at_least


@dataclass
class SlicerToxic:
    """``average_size`` and ``size_variation`` in bytes, ``delay`` in **microseconds** after each piece.

    A range is kept whole when its length minus ``average_size`` is at most ``size_variation``; otherwise
    it is split near the middle (moved by a whole number from [-size_variation, +size_variation) when the
    variation is > 0) and each half is cut the same way, so pieces end up between about average/2 and
    average+variation bytes. An interrupt during a pause sends the rest of the chunk in one piece.
    ``average_size`` <= 0 (or ``average_size + size_variation`` <= 0) sends the real server into endless
    recursion; here it is refused with a 400. A negative delay means no pause.
    """

    go_name: ClassVar[str] = "SlicerToxic"
    wire_name: ClassVar[str] = "slicer"

    average_size: int = int_attribute("int")
    size_variation: int = int_attribute("int")
    delay: int = int_attribute("int")

    def __post_init__(self) -> None:
        require_at_least(self, "average_size", 1)
        if self.average_size + self.size_variation < 1:  # no piece could ever be small enough
            raise InvalidAttribute(
                "invalid attribute: slicer average_size + size_variation must be at least 1,"
                f" got {self.average_size + self.size_variation}"
            )

    def cuts(self, size: int, rng: random.Random) -> list[int]:
        """Piece boundaries for ``size`` bytes: ``[0, a, b, ..., size]`` (iterative, no deep recursion)."""
        bounds = [0]
        pending = [(0, size)]
        while pending:
            start, end = pending.pop()
            if (end - start) - self.average_size <= self.size_variation:
                bounds.append(end)
                continue
            mid = start + (end - start) // 2
            if self.size_variation > 0:
                mid += rng.randrange(-self.size_variation, self.size_variation)
            mid = min(max(mid, start + 1), end - 1)
            pending.append((mid, end))
            pending.append((start, mid))
        return bounds

    async def pipe(self, stub: ToxicStub) -> None:
        async for item in stub.chunks():
            bounds = self.cuts(len(item.data), stub.rng)
            for start, end in itertools.pairwise(bounds):
                await stub.send(StreamChunk(item.data[start:end], item.timestamp))
                if not await stub.sleep(self.delay / 1_000_000):
                    if end < len(item.data):
                        await stub.send(StreamChunk(item.data[end:], item.timestamp))
                    return
