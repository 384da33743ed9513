"""Offer a WebSocket server under a second subprotocol name: a handshake-rewriting TCP proxy.

The Foxglove SDK's server speaks the Foxglove WebSocket protocol under the name
``foxglove.sdk.v1`` only; clients built before late 2025 (Lichtblick up to 1.21, the
``@foxglove/ws-protocol`` client, roslibjs-foxglove) offer only the older name
``foxglove.websocket.v1`` and get "400 Bad Request". The protocol behind both names is the same
(Foxglove's stated position, github.com/orgs/foxglove/discussions/1131), so this proxy accepts a
client, renames an offered alias to the name the server speaks in the HTTP upgrade request,
renames it back in the server's 101 reply, and then copies bytes both ways untouched. Clients that
offer the server's own name pass through unchanged.

No ROS here: the foxglove_bridge node runs it in front of the SDK server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import threading

from uav_flood.core.errors import UavFloodError

__all__ = ['ProxyError', 'SubprotocolProxy', 'FOXGLOVE_ALIASES']

#: Older subprotocol name -> the name the Foxglove SDK server speaks.
FOXGLOVE_ALIASES: Mapping[str, str] = {'foxglove.websocket.v1': 'foxglove.sdk.v1'}
#: Largest HTTP upgrade request or reply accepted (bytes).
MAX_HEAD = 16 * 1024


class ProxyError(UavFloodError):
    """The proxy could not start (address in use, bad host)."""


def _is_protocol_line(line: bytes) -> bool:
    return line.lower().startswith(b'sec-websocket-protocol:')


def offered_protocols(head: bytes) -> list[str]:
    """Return the subprotocols an HTTP upgrade request (or reply) names, in order."""
    names: list[str] = []
    for line in head.split(b'\r\n'):
        if _is_protocol_line(line):
            value = line.split(b':', 1)[1].decode('latin-1')
            names += [p.strip() for p in value.split(',') if p.strip()]
    return names


def _set_protocol(head: bytes, names: list[str]) -> bytes:
    """Return `head` with its Sec-WebSocket-Protocol header(s) replaced by one naming `names`."""
    out: list[bytes] = []
    done = False
    for line in head.split(b'\r\n'):
        if _is_protocol_line(line):
            if not done:
                out.append(b'Sec-WebSocket-Protocol: ' + ', '.join(names).encode('latin-1'))
                done = True
            continue
        out.append(line)
    return b'\r\n'.join(out)


def rewrite_request(head: bytes, aliases: Mapping[str, str]) -> tuple[bytes, str | None]:
    """Rename an offered alias to the server's name when the request does not offer that name.

    :returns: the request to forward, and the alias the client asked for (None: unchanged).
    """
    offered = offered_protocols(head)
    if any(name in offered for name in aliases.values()):
        return head, None
    for alias in offered:
        if alias in aliases:
            names = [aliases[alias] if name == alias else name for name in offered]
            return _set_protocol(head, names), alias
    return head, None


def rewrite_reply(head: bytes, alias: str, aliases: Mapping[str, str]) -> bytes:
    """Rename the server's chosen subprotocol back to the alias the client offered."""
    chosen = offered_protocols(head)
    if chosen == [aliases[alias]]:
        return _set_protocol(head, [alias])
    return head


class SubprotocolProxy:
    """A TCP proxy on (host, port) in front of a WebSocket server on 127.0.0.1:upstream_port.

    Runs its own asyncio loop in a daemon thread; `port` is the bound port (useful with 0).

    :param host: address to listen on.
    :param port: port to listen on (0: any free port).
    :param upstream_port: the WebSocket server's port on 127.0.0.1.
    :param aliases: subprotocol names to accept -> the name the server speaks.
    """

    def __init__(
        self,
        host: str,
        port: int,
        upstream_port: int,
        aliases: Mapping[str, str] = FOXGLOVE_ALIASES,
    ) -> None:
        """Bind and start serving; raise ProxyError when the address cannot be bound."""
        self.upstream_port = upstream_port
        self.aliases = dict(aliases)
        self.connections = 0
        self.renamed = 0
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, host, port, limit=MAX_HEAD)
            )
        except OSError as exc:
            self._loop.close()
            raise ProxyError(f'cannot listen on {host}:{port}: {exc.strerror or exc}') from None
        self.port: int = self._server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(
            target=self._loop.run_forever, name='ws-subprotocol-proxy', daemon=True
        )
        self._thread.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            self.connections += 1
            request = await reader.readuntil(b'\r\n\r\n')
            request, alias = rewrite_request(request, self.aliases)
            up_reader, upstream = await asyncio.open_connection(
                '127.0.0.1', self.upstream_port, limit=MAX_HEAD
            )
            upstream.write(request)
            reply = await up_reader.readuntil(b'\r\n\r\n')
            if alias is not None:
                reply = rewrite_reply(reply, alias, self.aliases)
                self.renamed += 1
            writer.write(reply)
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that hangs up or sends garbage: drop this connection only
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()
            self._tasks.discard(task)

    def stop(self) -> None:
        """Close the listening socket and every connection; join the thread."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        self._loop.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy bytes from `source` to `sink` until end of stream, then half-close `sink`."""
    try:
        while chunk := await source.read(1 << 16):
            sink.write(chunk)
            await sink.drain()
    finally:
        if sink.can_write_eof() and not sink.is_closing():
            sink.write_eof()
