"""The toxics of one proxy: two ordered chains (each headed by a hidden noop) and the live links.

Mirrors Toxiproxy's ``toxic_collection.go``. A change to a chain is applied to every open link in that
direction before the API answers: an added toxic starts at the end of each link's chain, an updated one
restarts with its new values, a removed one passes on what it held and the chain is re-joined.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass

from . import errors
from .link import Link
from .stream import Direction
from .toxics import TOXIC_TYPES, NoopToxic, Toxic


def float32(value: float) -> float:
    """``value`` rounded to a 32-bit float, as Toxiproxy stores toxicity."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


@dataclass(eq=False)
class ToxicWrapper:
    """A toxic with its shared fields; ``stream`` is kept as the client spelled it."""

    name: str
    type: str
    stream: str
    toxicity: float
    direction: Direction
    toxic: Toxic
    index: int = -1  # position in its direction's chain (0 is the hidden noop)


class ToxicCollection:
    """Both chains of one proxy and the links (one per direction per connection) that run them."""

    def __init__(self) -> None:
        self.chains: dict[Direction, list[ToxicWrapper]] = {
            direction: [ToxicWrapper("", "noop", direction.value, 1.0, direction, NoopToxic(), 0)]
            for direction in Direction
        }
        self.links: set[Link] = set()
        self._lock = asyncio.Lock()

    def toxics(self) -> list[ToxicWrapper]:
        """Upstream toxics in the order added, then downstream ones (the API's listing order)."""
        return self.chains[Direction.UPSTREAM][1:] + self.chains[Direction.DOWNSTREAM][1:]

    def find(self, name: str) -> ToxicWrapper | None:
        return next((wrapper for wrapper in self.toxics() if wrapper.name == name), None)

    def get(self, name: str) -> ToxicWrapper:
        wrapper = self.find(name)
        if wrapper is None:
            raise errors.TOXIC_NOT_FOUND
        return wrapper

    async def add(
        self,
        name: str,
        type_name: str,
        stream: str,
        direction: Direction,
        toxicity: float,
        build: Callable[[type[Toxic]], Toxic],
    ) -> ToxicWrapper:
        """Append a toxic; checks the type, then the name (409 if taken), then ``build``s its attributes."""
        cls = TOXIC_TYPES.get(type_name)
        if cls is None:
            raise errors.INVALID_TOXIC_TYPE
        if self.find(name) is not None:
            raise errors.TOXIC_ALREADY_EXISTS
        wrapper = ToxicWrapper(name, type_name, stream, float32(toxicity), direction, build(cls))
        async with self._lock:
            chain = self.chains[direction]
            wrapper.index = len(chain)
            chain.append(wrapper)
            links = self._links(direction)
            await asyncio.gather(*(link.add_toxic(wrapper) for link in links))
        return wrapper

    async def update(self, wrapper: ToxicWrapper, toxic: Toxic, toxicity: float | None) -> None:
        """Give ``wrapper`` new attribute values (and toxicity, if given) and restart it on every link."""
        async with self._lock:
            wrapper.toxic = toxic
            if toxicity is not None:
                wrapper.toxicity = float32(toxicity)
            links = self._links(wrapper.direction)
            await asyncio.gather(*(link.update_toxic(wrapper) for link in links))

    async def remove(self, name: str) -> None:
        """Take a toxic out of its chain and out of every live link."""
        async with self._lock:
            await self._remove(self.get(name))

    async def reset(self) -> None:
        """Remove every toxic (connections carrying a ``timeout`` toxic are closed by its cleanup)."""
        async with self._lock:
            for wrapper in self.toxics():
                await self._remove(wrapper)

    async def _remove(self, wrapper: ToxicWrapper) -> None:
        chain = self.chains[wrapper.direction]
        index = wrapper.index
        del chain[index]
        for position in range(index, len(chain)):
            chain[position].index = position
        links = self._links(wrapper.direction)
        await asyncio.gather(*(link.remove_toxic(wrapper, index) for link in links))
        wrapper.index = -1

    def _links(self, direction: Direction) -> list[Link]:
        return [link for link in self.links if link.direction is direction and not link.done]
