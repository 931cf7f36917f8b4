"""A threaded HTTP server on a free port of 127.0.0.1: the one lifecycle (bind, serve in a
daemon thread, shut down and close) behind every local fake of a vendor or broker."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalHttpServer:
    """Serve ``handler`` on 127.0.0.1 once :meth:`start` is called, until :meth:`stop`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running(handler: type[BaseHTTPRequestHandler]) -> Iterator[LocalHttpServer]:
    """A started :class:`LocalHttpServer`, stopped on exit."""
    local = LocalHttpServer(handler).start()
    try:
        yield local
    finally:
        local.stop()


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (for servers that need a number up
    front, e.g. Streamlit or aiosmtpd)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
