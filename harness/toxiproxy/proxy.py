"""A proxy: listens on its own address, dials the upstream for every client, and runs two links.

Mirrors Toxiproxy's ``proxy.go`` (spec §6): the upstream is dialled as soon as a client is accepted (its
name resolved on every dial); if that fails the client is closed at once. Each connection is two one-way
links; disabling, deleting or moving the proxy closes every open connection. Listen addresses follow Go's
``net.Listen`` rules and error wording, since clients show those messages.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import random
import socket
from collections.abc import Callable
from typing import cast

from . import errors
from .collection import ToxicCollection
from .link import Link
from .stream import CHUNK_SIZE, Direction
from .toxics.base import ConnectionPreparer

FAST_READ = 256 * 1024  # bytes per socket read on the fast path
_UNSEEDED = random.Random()  # shared by every link when no seed is given: nothing to reproduce

# -- addresses ------------------------------------------------------------------------------------------


def split_host_port(address: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; raises ValueError with Go's message."""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"address {address}: missing ']' in address")
        if end + 1 >= len(address) or address[end + 1] != ":":
            raise ValueError(f"address {address}: missing port in address")
        return address[1:end], address[end + 2 :]
    if ":" not in address:
        raise ValueError(f"address {address}: missing port in address")
    host, port = address.rsplit(":", 1)
    if ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    return host, port


def resolve(address: str) -> tuple[str, int]:
    """Resolve ``host:port`` to an IP and port like Go's ``net.ResolveTCPAddr`` (IPv4 first).

    An empty host means every interface (``::``). Raises ValueError with Go's wording.
    """
    host, port_text = split_host_port(address or ":0")  # Go listens on ":0" for an empty address
    if port_text.lstrip("+-").isdigit() or port_text == "":
        port = int(port_text or 0)
        if not 0 <= port <= 65535:
            raise ValueError(f"address {port_text}: invalid port")
    else:
        try:
            port = socket.getservbyname(port_text, "tcp")
        except OSError:
            raise ValueError(f"lookup tcp/{port_text}: unknown port") from None
    if host == "":
        return "::" if socket.has_ipv6 else "0.0.0.0", port
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise ValueError(f"lookup {host}: no such host") from None
    addresses = [str(info[4][0]) for info in infos]
    ipv4 = [a for a in addresses if ":" not in a]
    return (ipv4 or addresses)[0], port


def format_address(host: str, port: int) -> str:
    """``host:port`` the way Go prints a TCP address (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolved_listen(address: str) -> str:
    """The address Go would compare with a running proxy's listen (``ResolveTCPAddr(...).String()``)."""
    host, port = resolve(address)
    if host in ("::", "0.0.0.0") and split_host_port(address or ":0")[0] == "":
        return f":{port}"
    return format_address(host, port)


def bind(address: str) -> socket.socket:
    """A listening socket for ``address``; raises :class:`~.errors.ApiError` (500) with Go's text."""
    try:
        host, port = resolve(address)
    except ValueError as exc:
        raise errors.net_error(f"listen tcp: {exc}") from None
    if host == "0.0.0.0" and socket.has_ipv6:
        host = "::"  # Go listens dual-stack on the IPv4 wildcard too, and shows it as [::]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(512)
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno or errno.EINVAL)
        reason = reason[:1].lower() + reason[1:]
        raise errors.net_error(f"listen tcp {format_address(host, port)}: bind: {reason}") from None
    sock.setblocking(False)
    return sock


# -- sockets and connections ----------------------------------------------------------------------------


class SocketEndpoint(asyncio.BufferedProtocol):
    """One socket of a connection: the source of one link and the destination of the other.

    Reads land in ``buffer``, shared by every socket of the proxy: the event loop fills it and hands it
    to :meth:`buffer_updated` in one step, and the link copies the bytes out before the next read, so no
    socket holds a read buffer of its own. A fast-path link reads up to
    :data:`FAST_READ` bytes at a time; a chained one reads Toxiproxy-sized chunks (``CHUNK_SIZE``).
    """

    def __init__(self, buffer: memoryview) -> None:
        self._view = buffer
        self.transport: asyncio.Transport | None = None
        self.reader: Link | None = None  # the link reading from this socket
        self.writer: Link | None = None  # the link writing into it
        self.write_paused = False
        self.lost = False
        self.on_made: Callable[[SocketEndpoint], None] | None = None
        self.on_lost: Callable[[], None] | None = None
        self._writable: list[asyncio.Future[None]] = []
        self._reading = True

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # until both sides and both links exist
        self._reading = False
        if self.on_made is not None:
            self.on_made(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        reader = self.reader
        return self._view if reader is not None and reader.fast else self._view[:CHUNK_SIZE]

    def buffer_updated(self, nbytes: int) -> None:
        if self.reader is not None:
            self.reader.feed(self._view[:nbytes])

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.source_ended()
        return True  # keep the socket open: the other link closes it (no half-close kept, spec §6)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        self._wake_writers()
        if self.reader is not None:
            self.reader.source_ended()
        if self.on_lost is not None:
            self.on_lost()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_writers()
        if self.writer is not None:
            self.writer.dest_resumed()

    # the link's view of the socket
    @property
    def closing(self) -> bool:
        return self.lost or self.transport is None or self.transport.is_closing()

    def write(self, data: bytes | memoryview) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self._reading and not self.closing:
            self._reading = False
            assert self.transport is not None
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._reading and not self.closing:
            self._reading = True
            assert self.transport is not None
            self.transport.resume_reading()

    async def wait_writable(self) -> None:
        if self.write_paused and not self.lost:
            waiter = asyncio.get_running_loop().create_future()
            self._writable.append(waiter)
            await waiter

    def _wake_writers(self) -> None:
        waiters, self._writable = self._writable, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def raw_socket(self) -> socket.socket | None:
        if self.transport is None:
            return None
        # asyncio hands out a TransportSocket, which offers setsockopt() like the socket it wraps
        return cast(socket.socket, self.transport.get_extra_info("socket"))


class Connection:
    """A client socket, its upstream socket and the two links between them."""

    def __init__(self, proxy: Proxy, client: SocketEndpoint, upstream: SocketEndpoint, index: int) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        chains = proxy.toxics.chains
        self.links = (
            Link(chains[Direction.UPSTREAM], Direction.UPSTREAM, client, upstream, proxy.rng(index, "up")),
            Link(
                chains[Direction.DOWNSTREAM], Direction.DOWNSTREAM, upstream, client, proxy.rng(index, "down")
            ),
        )
        client.reader, upstream.writer = self.links[0], self.links[0]
        upstream.reader, client.writer = self.links[1], self.links[1]
        client.on_lost = upstream.on_lost = self._endpoint_lost

    def start(self) -> None:
        self._prepare_sockets()
        for link in self.links:
            self.proxy.toxics.links.add(link)
            link.start()
        self.client.resume_reading()
        self.upstream.resume_reading()

    def _prepare_sockets(self) -> None:
        """Let toxics present at accept time adjust both sockets (``reset_peer``'s zero linger)."""
        client, upstream = self.client.raw_socket(), self.upstream.raw_socket()
        if client is None or upstream is None:
            return
        for chain in self.proxy.toxics.chains.values():
            for wrapper in chain:
                if isinstance(wrapper.toxic, ConnectionPreparer):
                    wrapper.toxic.prepare_connection(client, upstream)

    def _endpoint_lost(self) -> None:
        if self.client.lost and self.upstream.lost:
            self.close()

    def close(self) -> None:
        """Close both sockets now and stop every task of both links."""
        for link in self.links:
            link.kill()
            self.proxy.toxics.links.discard(link)
        self.client.abort()
        self.upstream.abort()
        self.proxy.connections.discard(self)


# -- the proxy ------------------------------------------------------------------------------------------


class Proxy:
    """A named proxy; ``listen`` holds the bound address while it runs, as in Toxiproxy."""

    def __init__(self, name: str, listen: str, upstream: str, seed: int | None = None) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection()
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._seed = seed
        self._accepted = 0
        self._pending: set[asyncio.Task[None]] = set()
        self._buffer = memoryview(bytearray(FAST_READ))  # shared read buffer (see SocketEndpoint)

    def rng(self, index: int, direction: str) -> random.Random:
        """The random source of one link: seeded from (seed, proxy, connection index, direction) if seeded.

        String seeds are hashed with SHA-512 by :class:`random.Random`, so this does not depend on
        ``PYTHONHASHSEED``; the index counts accepted connections of this proxy from 0.
        """
        if self._seed is None:
            return _UNSEEDED
        return random.Random(f"{self._seed}/{self.name}/{index}/{direction}")

    async def start(self) -> None:
        """Bind ``listen`` and accept clients; raises ApiError (500) if binding fails."""
        if self.enabled:
            return
        sock = bind(self.listen)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_client, sock=sock)
        host, port = sock.getsockname()[:2]
        self.listen = format_address(host, port)
        self.enabled = True

    async def stop(self) -> None:
        """Close the listener (new connects are refused) and every open connection."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._pending):
            task.cancel()
        for connection in list(self.connections):
            connection.close()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a PATCH (spec §4.3): a new listen or upstream restarts the proxy, dropping connections."""
        try:
            new_listen = resolved_listen(listen)
        except ValueError as exc:
            raise errors.net_error(str(exc)) from None
        if new_listen != self.listen or upstream != self.upstream:
            await self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                await self.stop()

    def differs(self, listen: str, upstream: str) -> bool:
        """Whether a populate entry asks for another address or upstream (raises ApiError if unresolvable)."""
        try:
            return resolved_listen(listen) != self.listen or upstream != self.upstream
        except ValueError as exc:
            raise errors.net_error(str(exc)) from None

    def _new_client(self) -> SocketEndpoint:
        client = SocketEndpoint(self._buffer)
        client.on_made = self._accepted_client
        return client

    def _accepted_client(self, client: SocketEndpoint) -> None:
        index = self._accepted
        self._accepted += 1
        task = asyncio.get_running_loop().create_task(self._dial(client, index))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _dial(self, client: SocketEndpoint, index: int) -> None:
        upstream = SocketEndpoint(self._buffer)
        try:
            host, port = split_host_port(self.upstream)
            await asyncio.get_running_loop().create_connection(
                lambda: upstream, host or "localhost", int(port)
            )
        except (OSError, ValueError, asyncio.CancelledError):
            client.close()
            return
        if client.lost or not self.enabled:
            upstream.close()
            client.close()
            return
        connection = Connection(self, client, upstream, index)
        self.connections.add(connection)
        connection.start()
