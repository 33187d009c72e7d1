"""A local HTTP receiver for notification tests: it keeps every POSTed JSON body with its path.

    with Receiver() as hooks:
        url = hooks.url("/slack/T000/B000/XXXX")
        ...
        hooks.bodies("/slack/")   # the bodies POSTed under that path, in order

``fail_paths`` answer 500 (a target that is down), to test retries and failed deliveries.
"""
from __future__ import annotations

import http.server
import json
import threading
from types import TracebackType
from typing import Any


class Receiver:
    def __init__(self, fail_paths: tuple[str, ...] = ()) -> None:
        self.received: list[tuple[str, Any]] = []
        self.fail_paths = fail_paths
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode(errors="replace")
                with receiver._lock:
                    receiver.received.append((self.path, body))
                failing = any(self.path.startswith(p) for p in receiver.fail_paths)
                self.send_response(500 if failing else 202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "success"}')

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, prefix: str) -> list[Any]:
        with self._lock:
            return [body for path, body in self.received if path.startswith(prefix)]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
