"""The HTTP side: a threaded server on loopback that forwards to moto through the service rules.

Each request: count it; paths moto serves for itself (/moto-api/...) and unsigned or unknown
services go straight through; otherwise maybe throttle (before moto sees it, as AWS does), let
the rules answer instead of moto (refusals, cached deletions), else forward and let the rules
rewrite moto's answer to the simulated state.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .base import ServiceRules
from .faults import Stats, Throttler
from .wire import Request, Response

# Headers that describe one hop of the connection, not the message (RFC 9110 7.6.1).
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length", "expect", "host",
})


class Upstream:
    def __init__(self, url: str, timeout: float = 120.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout

    def send(self, req: Request) -> Response:
        # One connection per request: moto's werkzeug server closes each one anyway, and this
        # keeps threads from sharing a connection.
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        try:
            headers = {k: v for k, v in req.headers.items() if k not in _HOP_BY_HOP}
            headers["Host"] = f"{self.host}:{self.port}"
            headers["Content-Length"] = str(len(req.body))
            conn.request(req.method, self.base_path + req.path, body=req.body, headers=headers)
            answer = conn.getresponse()
            body = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
            return Response(answer.status, kept, body)
        finally:
            conn.close()


class Dispatcher:
    def __init__(self, upstream: Upstream, rules: dict[str, ServiceRules], throttler: Throttler,
                 stats: Stats) -> None:
        self.upstream = upstream
        self.rules = rules
        self.throttler = throttler
        self.stats = stats

    def handle(self, req: Request) -> Response:
        self.stats.add("requests")
        rules = None if req.path.startswith("/moto-api") else self.rules.get(req.service or "")
        if rules is None:
            return self.upstream.send(req)
        if rules.throttleable(req) and self.throttler.should_throttle():
            self.stats.add("throttled")
            return rules.throttled(req)
        early = rules.before(req)
        if early is not None:
            return early
        return rules.after(req, self.upstream.send(req))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore pools its connections
    server: "_Server"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            resp = self.server.dispatcher.handle(Request.parse(self.command, self.path, headers, body))
        except (OSError, http.client.HTTPException) as exc:
            # The upstream is unreachable or broke off: a 502 tells botocore to retry.
            resp = Response(502, [("Content-Type", "text/plain")], f"realism proxy: upstream: {exc}".encode())
        self.send_response(resp.status)
        for key, value in resp.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass  # one line per request would drown a lab run's output


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the lab provisions in parallel; the default 5 refuses bursts

    def __init__(self, dispatcher: Dispatcher) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.dispatcher = dispatcher


class ProxyServer:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._server = _Server(dispatcher)
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-realism-proxy",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._stopped = False
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
