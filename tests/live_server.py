"""A local HTTP server on 127.0.0.1 that answers as the publishers' servers do.

It serves files by path (the offline mirror's files, samples of `tests/samples/live/`, or bytes
given by a test), with an ETag and a Last-Modified, conditional requests (304), byte ranges
(206, `Content-Range`), and can refuse ranges, answer an HTTP error or drop the connection.
Every request is counted, with its Range header, so that a test sees what was asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import threading
from pathlib import Path

LAST_MODIFIED = "Tue, 10 Mar 2026 08:00:00 GMT"


class LiveServer:
    def __init__(self, root: Path | None = None, *, ranges: bool = True) -> None:
        self.root = root
        self.files: dict[str, bytes] = {}  # path -> body, before `root`
        self.status: dict[str, int] = {}  # path -> HTTP status to answer instead
        self.drop: set[str] = set()  # paths whose connection is closed without an answer
        self.ranges = ranges
        self.hits: list[tuple[str, str | None]] = []  # (path, Range header)
        self.sent = 0  # body bytes written
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0].lstrip("/")
                server.hits.append((path, self.headers.get("Range")))
                if path in server.drop:
                    self.connection.close()
                    return
                if path in server.status:
                    self._empty(server.status[path])
                    return
                body = server.body(path)
                if body is None:
                    self._empty(404)
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                wanted = self.headers.get("Range", "")
                if server.ranges and wanted.startswith("bytes="):
                    start, _, end = wanted[6:].partition("-")
                    first = int(start)
                    last = min(int(end) if end else len(body) - 1, len(body) - 1)
                    if first >= len(body):
                        self._empty(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
                    body = body[first:last + 1]
                else:
                    self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", LAST_MODIFIED)
                self.send_header("Accept-Ranges", "bytes" if server.ranges else "none")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped reading
                    self.wfile.write(body)
                    server.sent += len(body)

            def _empty(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def body(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if self.root is not None and (self.root / path).is_file():
            return (self.root / path).read_bytes()
        return None

    def requested(self, path: str) -> list[str | None]:
        """The Range headers of the requests for `path`, in order."""
        return [r for p, r in self.hits if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def dead_port() -> int:
    """A port of 127.0.0.1 on which nothing listens (the connection is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
