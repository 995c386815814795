"""``reset_peer``: on the first data (or end) seen, waits ``timeout`` ms and closes the connection."""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from typing import ClassVar

from ..stream import INTERRUPTED
from .base import ToxicStub, int_attribute

_LINGER_ZERO = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN


@dataclass
class ResetPeerToxic:
    """``timeout`` in milliseconds before the close; the wait is not interruptible, data is discarded.

    The close is a TCP RST (the client sees ECONNRESET) only for connections accepted while the toxic was
    already in a chain: :meth:`prepare_connection` then sets SO_LINGER 0 on both sockets, whatever the
    toxicity draw. Added to a connection already open, the close is a normal FIN. Idle connections are
    never reset.
    """

    go_name: ClassVar[str] = "ResetToxic"
    wire_name: ClassVar[str] = "reset_peer"

    timeout: int = int_attribute()

    async def pipe(self, stub: ToxicStub) -> None:
        item = await stub.recv()
        if item is INTERRUPTED:
            return
        await asyncio.sleep(max(self.timeout, 0) / 1000.0)  # not interruptible, as in Toxiproxy
        stub.close()

    def prepare_connection(self, client: socket.socket, upstream: socket.socket) -> None:
        for sock in (client, upstream):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
