"""The toxic contract: one ``async pipe(stub)`` method, plus tiny optional capabilities.

A toxic is a dataclass whose fields are exactly its JSON attributes (integers; units in each class's
docstring). It runs once per link and direction inside a :class:`ToxicStub`, which gives it the input
channel, the output channel, an interrupt and the link's random generator. Every ``pipe`` loops like
:mod:`.noop`: wait for a chunk, the end of the input (close the stub) or an interrupt (return at once,
passing on any chunk still held, never dropping it).

Optional capabilities, found with ``isinstance`` on the runtime-checkable protocols below, so a toxic that
needs none of them mentions none of them:

* :class:`Stateful`: per-link state that survives updates (``limit_data``'s byte count);
* :class:`Cleanup`: work done when the toxic is removed from a live link (``timeout`` closes the link);
* :class:`Buffered`: an input buffer larger than one chunk (``latency`` holds up to 1024 in flight);
* :class:`ConnectionPreparer`: a look at both sockets when a connection is accepted while the toxic is in
  the chain (``reset_peer`` sets SO_LINGER 0 there so that its close becomes an RST).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import socket
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..stream import EOF, INTERRUPTED, TIMEOUT, Channel, Output, Received, StreamChunk


class InvalidAttribute(ValueError):
    """An attribute value the server refuses (answered as 400 in Toxiproxy's error shape)."""


@runtime_checkable
class Toxic(Protocol):
    """What every toxic implements: ``wire_name`` is its API type, ``go_name`` its Go struct name."""

    go_name: ClassVar[str]
    wire_name: ClassVar[str]

    async def pipe(self, stub: ToxicStub) -> None: ...


@runtime_checkable
class Stateful(Protocol):
    """Keeps per-link state across restarts of the toxic (made when the link or the toxic starts)."""

    def new_state(self) -> Any: ...


@runtime_checkable
class Cleanup(Protocol):
    """Acts on a live link when the toxic is removed from it (it may close the stub)."""

    def cleanup(self, stub: ToxicStub) -> None: ...


@runtime_checkable
class Buffered(Protocol):
    """Takes up to ``buffer_size`` chunks into its input before the toxic before it has to wait."""

    buffer_size: ClassVar[int]


@runtime_checkable
class ConnectionPreparer(Protocol):
    """Adjusts both sockets of a connection accepted while the toxic is in one of the proxy's chains."""

    def prepare_connection(self, client: socket.socket, upstream: socket.socket) -> None: ...


def int_attribute(go_type: str = "int64") -> Any:
    """A dataclass field for an integer JSON attribute (default 0); ``go_type`` is its Go type name."""
    return dataclasses.field(default=0, metadata={"go_type": go_type})


def require_at_least(toxic: object, field: str, minimum: int) -> None:
    """Refuse a value the real server would crash or misbehave on, naming the toxic and attribute."""
    value = getattr(toxic, field)
    if value < minimum:
        kind = getattr(toxic, "wire_name", type(toxic).__name__)
        raise InvalidAttribute(f"invalid attribute: {kind} {field} must be at least {minimum}, got {value}")


class ToxicStub:
    """One toxic's place in one link: input and output channels, interrupt, state and randomness.

    ``run`` starts the toxic as a task; ``interrupt`` asks it to return and waits until it has (False when
    the stub was already closed, as in Go's ``InterruptToxic``). ``close`` ends the output, which ends the
    rest of the chain and then the destination socket.
    """

    __slots__ = ("_interrupted", "_task", "_waiter", "closed", "input", "output", "rng", "state")

    def __init__(self, input: Channel, output: Output, rng: random.Random) -> None:
        self.input = input
        self.output = output
        self.rng = rng
        self.state: Any = None
        self.closed = False
        self._interrupted = False
        self._waiter: asyncio.Future[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- used by toxics -----------------------------------------------------------------------------------

    async def recv(self, timeout: float | None = None) -> Received:
        """The next chunk, ``EOF``, ``INTERRUPTED``, or ``TIMEOUT`` after ``timeout`` seconds of nothing."""
        if self._interrupted:
            return INTERRUPTED
        waiter = self.input.waiter()
        if waiter.done():
            return waiter.result()
        handle = None
        if timeout is not None:
            handle = asyncio.get_running_loop().call_later(max(timeout, 0.0), _resolve, waiter, TIMEOUT)
        self._waiter = waiter
        try:
            return await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    async def chunks(self) -> AsyncIterator[StreamChunk]:
        """The loop every toxic shares: each chunk until interrupted, or until EOF (which closes the stub)."""
        while True:
            item = await self.recv()
            if item is INTERRUPTED:
                return
            if item is EOF:
                self.close()
                return
            assert isinstance(item, StreamChunk)
            yield item

    async def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False if interrupted first (the caller then passes on what it holds)."""
        if self._interrupted:
            return False
        if seconds <= 0:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        handle = loop.call_later(seconds, _resolve, waiter, True)
        self._waiter = waiter
        try:
            return (await waiter) is True
        finally:
            self._waiter = None
            handle.cancel()

    async def send(self, chunk: StreamChunk) -> None:
        """Pass ``chunk`` on, waiting for room (not interruptible, like a Go channel send)."""
        await self.output.put(chunk)

    async def send_within(self, chunk: StreamChunk, seconds: float = 5.0) -> None:
        """Pass on a chunk held at interrupt time, giving up after ``seconds`` (Go's ``WriteOutput``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.output.put(chunk), seconds)

    def close(self) -> None:
        """End this stub's output, and so the link."""
        self.closed = True
        self.output.close()

    # -- used by the link ---------------------------------------------------------------------------------

    def run(self, toxic: Toxic) -> None:
        """Start ``toxic``'s pipe as this stub's task (the link has already made the toxicity draw)."""
        self._interrupted = False
        self._task = asyncio.get_running_loop().create_task(toxic.pipe(self))

    async def interrupt(self) -> bool:
        """Stop the running toxic, letting it pass on what it holds; False if the stub is closed."""
        if self.closed or self._task is None:
            return False
        self._interrupted = True
        waiter = self._waiter
        if waiter is not None:
            _resolve(waiter, INTERRUPTED)
        task = self._task
        with contextlib.suppress(Exception):
            await asyncio.shield(task)
        self._interrupted = False
        return not self.closed

    def cancel(self) -> None:
        """Drop the task outright (the connection is being torn down)."""
        self.closed = True
        if self._task is not None:
            self._task.cancel()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()


def _resolve(future: asyncio.Future[Any], value: object) -> None:
    if not future.done():
        future.set_result(value)
