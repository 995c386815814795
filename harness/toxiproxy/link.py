"""One direction of one connection: source socket, hidden noop, the direction's toxics, destination socket.

Mirrors Toxiproxy's ``link.go``: each toxic runs in its own :class:`~.toxics.base.ToxicStub`, joined by
channels, and the chain is re-joined in place when a toxic is added, updated or removed on a live link.

The last stub writes straight into the destination socket (:class:`_Sink`), so there is no writer task.

Fast path: while a direction's chain is only the hidden noop, the link copies each read straight to the
destination with no task or channel in between (socket flow control still applies). The first toxic added
to such a live link builds the full chain behind the same socket, so order is kept; when the last toxic is
removed, the link writes out what the noop still held and goes back to the fast path.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from .stream import Channel, Direction, Output, StreamChunk
from .toxics.base import Buffered, Cleanup, Stateful, Toxic, ToxicStub
from .toxics.noop import NoopToxic

if TYPE_CHECKING:
    from .collection import ToxicWrapper

_PASS_THROUGH = NoopToxic()
HEAD_BUFFER = 2  # chunks read ahead of the chain before the source socket is paused
FLUSH_LIMIT = 5.0  # seconds each held chunk may wait for room when a removed toxic passes it on


class Endpoint(Protocol):
    """The socket side of a link (implemented by the proxy's per-socket protocol)."""

    @property
    def closing(self) -> bool: ...

    @property
    def write_paused(self) -> bool: ...

    def write(self, data: bytes | memoryview) -> None: ...

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    async def wait_writable(self) -> None: ...


class Link:
    """Carries one direction of a connection through ``chain`` (the collection's list, noop first)."""

    def __init__(
        self,
        chain: Sequence[ToxicWrapper],
        direction: Direction,
        source: Endpoint,
        dest: Endpoint,
        rng: random.Random,
    ) -> None:
        self.chain = chain
        self.direction = direction
        self.source = source
        self.dest = dest
        self.rng = rng
        self.stubs: list[ToxicStub] = []
        self.fast = True
        self.ended = False  # the source has ended
        self.done = False  # the destination has been closed
        self._head: Channel | None = None

    # -- start and the socket side ---------------------------------------------------------------------

    def start(self) -> None:
        """Begin carrying data: fast path if the chain is only the noop, else one stub per chain entry."""
        if len(self.chain) > 1:
            self._build_chain()

    def feed(self, data: memoryview) -> None:
        """One socket read from the source (a chunk of at most ``stream.CHUNK_SIZE`` bytes)."""
        if self.fast:
            if not self.dest.closing:
                # A copy: from Python 3.12 a transport may keep a view of what it could not send yet,
                # and ``data`` is the read buffer the next read will overwrite.
                self.dest.write(bytes(data))
                if self.dest.write_paused:
                    self.source.pause_reading()
            return
        assert self._head is not None
        self._head.put_nowait(StreamChunk(bytes(data), time.monotonic()))
        if self._head.full():
            self.source.pause_reading()

    def source_ended(self) -> None:
        """The source reached EOF or failed: the end travels down the chain, then closes the destination."""
        if self.ended:
            return
        self.ended = True
        if self.fast:
            self._close_dest()
        else:
            assert self._head is not None
            self._head.close()

    def dest_resumed(self) -> None:
        """The destination drained its buffer: a fast link reads again (a chain's sink wakes by itself)."""
        if self.fast and not self.ended:
            self.source.resume_reading()

    def _head_has_room(self) -> None:
        if not self.ended:
            self.source.resume_reading()

    def _close_dest(self) -> None:
        self.done = True
        self.dest.close()

    # -- the chain -------------------------------------------------------------------------------------------

    def _build_chain(self) -> None:
        self._head = Channel(HEAD_BUFFER, on_room=self._head_has_room)
        if self.ended:
            self._head.close()
        last = self._head
        for index, wrapper in enumerate(self.chain):
            is_last = index + 1 == len(self.chain)
            following = _Sink(self) if is_last else Channel(_buffer_size(self.chain[index + 1].toxic))
            self.stubs.append(self._new_stub(last, following, wrapper))
            if isinstance(following, Channel):
                last = following
        self.fast = False
        if not self.ended:
            self.source.resume_reading()  # it may have been paused by the fast path's back-pressure
        for stub, wrapper in zip(self.stubs, self.chain, strict=True):
            stub.run(self._draw(wrapper))

    def _new_stub(self, input: Channel, output: Output, wrapper: ToxicWrapper) -> ToxicStub:
        stub = ToxicStub(input, output, self.rng)
        if isinstance(wrapper.toxic, Stateful):
            stub.state = wrapper.toxic.new_state()
        return stub

    def _draw(self, wrapper: ToxicWrapper) -> Toxic:
        """The toxic itself if a fresh draw in [0, 1) is below its toxicity, else pass-through."""
        return wrapper.toxic if self.rng.random() < wrapper.toxicity else _PASS_THROUGH

    async def add_toxic(self, wrapper: ToxicWrapper) -> None:
        """``wrapper`` was appended to the chain: run it here too, at the end (Go's ``AddToxic``)."""
        if self.fast:
            if not self.done:
                self._build_chain()  # includes the new toxic
            return
        previous = self.stubs[-1]
        new_input = Channel(_buffer_size(wrapper.toxic))
        stub = self._new_stub(new_input, previous.output, wrapper)
        self.stubs.append(stub)
        if await previous.interrupt():
            previous.output = new_input
            stub.run(self._draw(wrapper))
            previous.run(self._draw(self.chain[len(self.stubs) - 2]))
        else:  # this link is already closing: keep the new stub consistent with it
            stub.output = new_input
            stub.close()

    async def update_toxic(self, wrapper: ToxicWrapper) -> None:
        """Restart the toxic with its new values (and a fresh toxicity draw)."""
        if self.fast:
            return
        stub = self.stubs[wrapper.index]
        if await stub.interrupt():
            stub.run(self._draw(wrapper))

    async def remove_toxic(self, wrapper: ToxicWrapper, index: int) -> None:
        """Take the toxic at ``index`` out, passing on what it held, and re-join the chain."""
        if self.fast:
            return
        stub = self.stubs[index]
        if not await stub.interrupt():
            return
        if isinstance(wrapper.toxic, Cleanup):
            wrapper.toxic.cleanup(stub)
            if stub.closed:
                return
        previous = self.stubs[index - 1]
        stopping = asyncio.ensure_future(previous.interrupt())
        # Keep the previous toxic's sends flowing through while it reaches its interrupt.
        while not stopping.done():
            waiter = stub.input.waiter()
            await asyncio.wait((waiter, stopping), return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                waiter.cancel()
                continue
            item = waiter.result()
            if not isinstance(item, StreamChunk):  # the end of the input
                stub.close()
                await stopping
                return
            await stub.output.put(item)
        if not stopping.result():  # the previous stub had closed: forward to the end, then close
            while isinstance(item := await stub.input.waiter(), StreamChunk):
                await stub.output.put(item)
            stub.close()
            return
        while len(stub.input):
            held = stub.input.get_nowait()
            assert isinstance(held, StreamChunk)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stub.output.put(held), FLUSH_LIMIT)
        previous.output = stub.output
        del self.stubs[index]
        if len(self.stubs) == 1:
            self._back_to_fast_path()
        else:
            previous.run(self._draw(self.chain[index - 1]))

    def _back_to_fast_path(self) -> None:
        """Only the (stopped) noop is left: write out what it has not read yet, then copy directly."""
        assert self._head is not None
        while isinstance(item := self._head.get_nowait(), StreamChunk):
            if not self.dest.closing:
                self.dest.write(item.data)
        self.stubs.clear()
        self._head = None
        self.fast = True
        if self.ended:
            self._close_dest()
        elif self.dest.write_paused:
            self.source.pause_reading()
        else:
            self.source.resume_reading()

    def kill(self) -> None:
        """Stop every task of this link at once (the connection is gone)."""
        self.ended = self.done = True
        for stub in self.stubs:
            stub.cancel()


class _Sink:
    """The end of a chain: writes each chunk into the destination socket, waiting while it is full."""

    def __init__(self, link: Link) -> None:
        self._link = link

    async def put(self, chunk: StreamChunk) -> None:
        dest = self._link.dest
        if dest.closing:
            return  # the socket is gone: drop, so the chain never blocks on it
        dest.write(chunk.data)
        if dest.write_paused:
            await dest.wait_writable()

    def close(self) -> None:
        self._link._close_dest()


def _buffer_size(toxic: object) -> int:
    return toxic.buffer_size if isinstance(toxic, Buffered) else 1
