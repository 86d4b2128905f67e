"""A webhook endpoint for tests: an HTTP server in a thread that records each request and answers as told."""

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def event(self) -> dict:
        return orjson.loads(self.body)


class Receiver:
    """`answers` is a list of (status, body) used in turn, the last one repeated; `hold` (an Event) makes each
    request wait until it is set; `delay` seconds before answering."""

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        """`tls`: a server context (its certificate) to answer over HTTPS; `host`: the name in the URL."""
        self.received: list[Received] = []
        self.answers: list[tuple[int, bytes]] = [(200, b"ok")]
        self.hold: threading.Event | None = None
        self.delay = 0.0
        self.drip: float | None = None  # seconds between the body's bytes: an answer that never quite ends
        self.on_request = None  # called with the request's number (1, 2, ...) before answering
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                    status, answer = receiver.answers[min(len(receiver.received), len(receiver.answers)) - 1]
                    receiver.arrived.notify_all()
                if receiver.on_request is not None:
                    receiver.on_request(len(receiver.received))
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                time.sleep(receiver.delay)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if receiver.drip is None:
                    self.wfile.write(answer)
                    return
                for byte in answer:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(receiver.drip)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "http" if tls is None else "https"
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
        assert len(self.received) >= count, f"{len(self.received)} of {count} deliveries arrived"
        return self.received
