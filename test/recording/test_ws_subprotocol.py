"""The subprotocol proxy in front of the Foxglove SDK server, without ROS."""

import base64
import os
import socket

import foxglove
import pytest

from uav_flood.recording.ws_subprotocol import (
    offered_protocols,
    ProxyError,
    rewrite_reply,
    rewrite_request,
    SubprotocolProxy,
)

ALIASES = {'foxglove.websocket.v1': 'foxglove.sdk.v1'}


def upgrade(protocols: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        'GET / HTTP/1.1',
        'Host: 127.0.0.1',
        'Upgrade: websocket',
        'Connection: Upgrade',
        f'Sec-WebSocket-Key: {key}',
        'Sec-WebSocket-Version: 13',
    ]
    if protocols is not None:
        lines.append(f'Sec-WebSocket-Protocol: {protocols}')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode()


def test_an_alias_is_renamed_only_when_the_real_name_is_not_offered():
    head, alias = rewrite_request(upgrade('foxglove.websocket.v1'), ALIASES)
    assert alias == 'foxglove.websocket.v1'
    assert offered_protocols(head) == ['foxglove.sdk.v1']
    assert head.endswith(b'\r\n\r\n') and b'Sec-WebSocket-Key' in head
    both = upgrade('foxglove.websocket.v1, foxglove.sdk.v1')
    assert rewrite_request(both, ALIASES) == (both, None)
    other = upgrade('graphql-ws')
    assert rewrite_request(other, ALIASES) == (other, None)
    assert rewrite_request(upgrade(None), ALIASES)[1] is None
    # Two header lines are one list (RFC 7230 3.2.2).
    split = upgrade('x').replace(
        b'\r\n\r\n', b'\r\nsec-websocket-protocol: foxglove.websocket.v1\r\n\r\n'
    )
    head, alias = rewrite_request(split, ALIASES)
    assert alias and offered_protocols(head) == ['x', 'foxglove.sdk.v1']
    reply = b'HTTP/1.1 101 Switching Protocols\r\nsec-websocket-protocol: foxglove.sdk.v1\r\n\r\n'
    assert offered_protocols(rewrite_reply(reply, alias, ALIASES)) == ['foxglove.websocket.v1']


def handshake(port: int, protocols: str | None) -> bytes:
    with socket.create_connection(('127.0.0.1', port), timeout=5.0) as sock:
        sock.sendall(upgrade(protocols))
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        return head


@pytest.fixture
def sdk_server():
    server = foxglove.start_server(name='t', host='127.0.0.1', port=0, context=foxglove.Context())
    yield server
    server.stop()


def test_the_proxy_lets_old_and_new_clients_in(sdk_server):
    assert handshake(sdk_server.port, 'foxglove.websocket.v1').startswith(b'HTTP/1.1 400')
    proxy = SubprotocolProxy('127.0.0.1', 0, sdk_server.port)
    try:
        old = handshake(proxy.port, 'foxglove.websocket.v1')
        assert old.startswith(b'HTTP/1.1 101') and offered_protocols(old) == [
            'foxglove.websocket.v1'
        ]
        new = handshake(proxy.port, 'foxglove.sdk.v1')
        assert new.startswith(b'HTTP/1.1 101') and offered_protocols(new) == ['foxglove.sdk.v1']
        # What the server refuses stays refused, and garbage drops only its own connection.
        assert handshake(proxy.port, 'graphql-ws').startswith(b'HTTP/1.1 400')
        with socket.create_connection(('127.0.0.1', proxy.port), timeout=5.0) as sock:
            sock.sendall(b'\x00' * 40_000)
            try:
                assert sock.recv(10) == b''  # closed ...
            except ConnectionResetError:
                pass  # ... or reset, with the rest of the garbage unread
        assert handshake(proxy.port, 'foxglove.websocket.v1').startswith(b'HTTP/1.1 101')
        assert proxy.renamed == 2 and proxy.connections == 5
    finally:
        proxy.stop()
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', proxy.port), timeout=1.0)


def test_a_port_in_use_is_a_clear_error(sdk_server):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        with pytest.raises(ProxyError, match='cannot listen on 127.0.0.1'):
            SubprotocolProxy('127.0.0.1', taken.getsockname()[1], sdk_server.port)


def test_an_unreachable_server_drops_the_client_and_the_proxy_goes_on(sdk_server):
    with socket.socket() as closed:
        closed.bind(('127.0.0.1', 0))
        dead_port = closed.getsockname()[1]  # nobody listens there once closed
    proxy = SubprotocolProxy('127.0.0.1', 0, dead_port)
    try:
        assert handshake(proxy.port, 'foxglove.websocket.v1') == b''  # closed, no reply
        proxy.upstream_port = sdk_server.port  # the server is back
        assert handshake(proxy.port, 'foxglove.websocket.v1').startswith(b'HTTP/1.1 101')
    finally:
        proxy.stop()
