"""A real webhook receiver for the tests: an HTTP server on a thread, which
answers from a script and keeps every request it got."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> dict:
        """The event, once its signature checks out with ``secret`` (raises if not)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class Receiver:
    """``answers``: what to answer each request in turn (the last one repeats);
    or ``answer(request) -> Answer``."""

    def __init__(self, *answers: Answer, answer: Callable[[Received], Answer] | None = None):
        self.answers = list(answers) or [Answer()]
        self.answer = answer
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with receiver.lock:
                    receiver.received.append(request)
                    turn = len(receiver.received) - 1
                if receiver.answer is not None:
                    answer = receiver.answer(request)
                else:
                    answer = receiver.answers[min(turn, len(receiver.answers) - 1)]
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"

    def events(self, secret: str) -> list[dict]:
        with self.lock:
            return [request.verified(secret) for request in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
