"""Timestamped chunks, the direction of a link, and the channel that joins two toxics.

Knows nothing of toxics (mirrors Toxiproxy's ``stream/`` package). A chunk is what one socket read
returned (at most :data:`CHUNK_SIZE` bytes), stamped with the monotonic time it was read; the latency
toxic measures its delay from that stamp.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

CHUNK_SIZE: Final = 32 * 1024  # bytes per socket read, as in Toxiproxy


class Direction(enum.Enum):
    """Which way a link carries data: client to upstream server, or back."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"

    @classmethod
    def parse(cls, text: str) -> Direction | None:
        """The direction spelled ``text`` in any letter case, or None if it is neither."""
        try:
            return cls(text.lower())
        except ValueError:
            return None


@dataclass(slots=True)
class StreamChunk:
    """Bytes read at ``timestamp`` (``time.monotonic()`` seconds)."""

    data: bytes
    timestamp: float


class _Signal(enum.Enum):
    EOF = "eof"
    INTERRUPTED = "interrupted"
    TIMEOUT = "timeout"


EOF: Final = _Signal.EOF  # the channel was closed: the source has ended
INTERRUPTED: Final = _Signal.INTERRUPTED  # the stub was interrupted (toxic updated or removed)
TIMEOUT: Final = _Signal.TIMEOUT  # a receive with a timeout saw nothing in time

Received = StreamChunk | _Signal


class Output(Protocol):
    """Where a stub sends: a :class:`Channel` to the next stub, or the link's sink (the socket)."""

    async def put(self, chunk: StreamChunk) -> None: ...

    def close(self) -> None: ...


class Channel:
    """A bounded FIFO of chunks between two stubs, closed once with an end-of-stream mark.

    ``put`` waits while ``maxsize`` chunks are queued (Go's buffered channel; size 1 stands for an
    unbuffered one). ``get`` returns :data:`EOF` after the close. A getter waits on a future that the
    owning stub can also resolve with :data:`INTERRUPTED`, which is how an interrupt wakes a toxic
    blocked on input without a helper task per chunk.
    """

    __slots__ = ("_closed", "_getter", "_items", "_putters", "maxsize", "on_room")

    def __init__(self, maxsize: int = 1, on_room: Callable[[], None] | None = None) -> None:
        self.maxsize = max(1, maxsize)
        self.on_room = on_room  # called when a get makes room (a paused socket reader can resume)
        self._items: deque[StreamChunk] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._getter: asyncio.Future[Received] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    def put_nowait(self, chunk: StreamChunk) -> None:
        """Queue ``chunk`` (or hand it to a waiting getter) even if full; callers check :meth:`full`."""
        getter = self._getter
        if getter is not None and not getter.done() and not self._items:
            self._getter = None
            getter.set_result(chunk)
            return
        self._items.append(chunk)

    async def put(self, chunk: StreamChunk) -> None:
        """Queue ``chunk``, waiting for room; a chunk sent to a closed channel is dropped."""
        while self.full() and not self._closed:
            waiter = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._putters:
                    self._putters.remove(waiter)
        if not self._closed:
            self.put_nowait(chunk)

    def close(self) -> None:
        """Mark the end of the stream; queued chunks are still delivered before :data:`EOF`."""
        if self._closed:
            return
        self._closed = True
        getter = self._getter
        if getter is not None and not getter.done() and not self._items:
            self._getter = None
            getter.set_result(EOF)
        self._wake_putters()

    def get_nowait(self) -> Received | None:
        """The next chunk, :data:`EOF`, or None when nothing is ready."""
        if self._items:
            chunk = self._items.popleft()
            self._wake_putters()
            if self.on_room is not None:
                self.on_room()
            return chunk
        return EOF if self._closed else None

    def waiter(self) -> asyncio.Future[Received]:
        """A future resolved with the next chunk or :data:`EOF` (one getter at a time)."""
        future: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        ready = self.get_nowait()
        if ready is not None:
            future.set_result(ready)
        else:
            self._getter = future
        return future

    def _wake_putters(self) -> None:
        while self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_result(None)
                if not self._closed:
                    return
