"""A loopback TCP proxy whose signal can be cut, like a phone in a lift or a metro tunnel.

``Context.set_offline()`` does not stall an open WebSocket in Chromium, so it cannot model lost
coverage (mobile tester's report). This proxy sits between the browser and Kefu:

* ``blackhole()``: bytes in either direction go nowhere and a close by Kefu is not passed on (the FIN
  is lost too); the browser's WebSocket stays "open", as on a phone;
* ``restore()``: coverage is back; the connections that lived through the gap are reset (Kefu closed
  them meanwhile, when its pings went unanswered), new ones pass.

``Origin``/``Host`` naming the proxy are rewritten to Kefu's own, so Socket.IO's CORS check passes.
Runs in threads: the Playwright tests use its sync API.
"""
from __future__ import annotations

import socket
import threading


class TcpCut:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.cut = False
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def blackhole(self) -> None:
        self.cut = True

    def restore(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self.cut = False
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        self.restore()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.host, self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, to_kefu: bool) -> None:
        ours, kefus = f"{self.host}:{self.port}".encode(), f"{self.host}:{self.upstream_port}".encode()
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                if not self.cut:  # a close during the gap is lost with everything else
                    _reset(target)
                return
            if self.cut:
                continue  # nowhere
            if to_kefu:
                data = data.replace(ours, kefus)
            try:
                target.sendall(data)
            except OSError:
                return


def _reset(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
