"""Link internals that real sockets on this Python cannot show.

From Python 3.12 a transport may keep a *view* of bytes it could not send at once; the proxy reads every
socket into one shared buffer, so the fast path must hand the transport a copy. On 3.11 the transport
copies anyway, so only a recording endpoint shows the difference (a real run on 3.12 corrupts data).
"""

from __future__ import annotations

import random

from harness.toxiproxy.collection import ToxicCollection
from harness.toxiproxy.link import Link
from harness.toxiproxy.stream import Direction


class RecordingEndpoint:
    """Stands in for a socket: records what a link writes into it."""

    def __init__(self) -> None:
        self.written: list[object] = []
        self.closed = False

    closing = False
    write_paused = False

    def write(self, data: bytes | memoryview) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    async def wait_writable(self) -> None:
        pass


def test_fast_path_writes_a_copy_not_a_view_of_the_shared_read_buffer() -> None:
    chain = ToxicCollection().chains[Direction.DOWNSTREAM]
    source, dest = RecordingEndpoint(), RecordingEndpoint()
    link = Link(chain, Direction.DOWNSTREAM, source, dest, random.Random(0))
    link.start()
    shared = bytearray(b"first")
    link.feed(memoryview(shared))
    shared[:] = b"XXXXX"  # the next read reuses the buffer
    assert dest.written == [b"first"]
    assert all(isinstance(item, bytes) for item in dest.written)
    link.source_ended()
    assert dest.closed
