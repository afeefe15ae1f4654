"""A local HTTP server on 127.0.0.1 that serves the mirror's files, or breaks them on demand.

The faults are those a real network and real servers bring (probed for issue #15):

- "503": a 503 with `Retry-After: 0`;  "404": not found;  "drop": the connection closes, no answer;
- "cut": `Content-Length` of the whole file, half of it sent, then the connection closes;
- "cut-no-length": no `Content-Length`, the first `cut_fraction` of the file up to a line end,
  then the connection closes (HTTP/1.0 style: nothing says the body was short);
- "bad-gzip": `Content-Encoding: gzip` on a body that is not gzip;
- "redirect-loop": a 302 to the same address, for ever;
- "trickle": the right `Content-Length`, then one byte every `trickle_delay` seconds;
- "html": a 200 with an HTML error page instead of the file (a proxy's or a portal's).

`plans[path]` lists the actions of successive requests ("ok" once the list is used up);
`always[path]` is an action for every request; `overrides[path]` a body served instead of the file.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from pathlib import Path

HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Service indisponible</title></head>"
             b"<body><h1>Maintenance en cours</h1></body></html>")


def cut_at_line(body: bytes, fraction: float) -> bytes:
    """The first `fraction` of `body`, ending at a line end (what a server closing early may send)."""
    end = body.rfind(b"\n", 0, int(len(body) * fraction))
    return body[: end + 1]


class FaultServer:
    """Serves `root` on 127.0.0.1 (a free port), with the faults asked for."""

    def __init__(self, root: Path):
        self.root = root
        self.plans: dict[str, list[str]] = {}
        self.always: dict[str, str] = {}
        self.overrides: dict[str, bytes] = {}
        self.truncate: set[str] = set()  # same as always[path] = "cut"
        self.cut_fraction = 0.6
        self.trickle_delay = 0.05
        self.hits: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _empty(self, status: int, **headers: str) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0].lstrip("/")
                server.hits[path] = server.hits.get(path, 0) + 1
                plan = server.plans.get(path)
                action = plan.pop(0) if plan else server.always.get(path, "cut" if path in server.truncate else "ok")
                if action == "503":
                    return self._empty(503, Retry_After="0")
                if action == "404":
                    return self._empty(404)
                if action == "drop":
                    self.connection.close()  # no response at all
                    return
                if action == "redirect-loop":
                    return self._empty(302, Location=f"/{path}")
                if action == "html":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(HTML_PAGE)))
                    self.end_headers()
                    self.wfile.write(HTML_PAGE)
                    return
                if action == "bad-gzip":
                    junk = b"this is not a gzip stream " * 40
                    self.send_response(200)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(junk)))
                    self.end_headers()
                    self.wfile.write(junk)
                    return
                body = server.overrides.get(path)
                if body is None:
                    file = server.root / path
                    if not file.is_file():
                        return self._empty(404)
                    body = file.read_bytes()
                # a broken transfer stands for a new version whose download breaks: another ETag
                etag = '"' + hashlib.sha256(body + action.encode()).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    return self._empty(304, ETag=etag)
                self.send_response(200)
                self.send_header("ETag", etag)
                if action == "cut-no-length":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(cut_at_line(body, server.cut_fraction))
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if action == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    return
                if action == "trickle":
                    try:
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(server.trickle_delay)
                    except OSError:  # the client gave up
                        pass
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

