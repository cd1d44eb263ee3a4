"""A fault-injecting HTTP reverse proxy on 127.0.0.1 in front of an S3 endpoint (moto in the tests).

Clients (Spark's S3A, boto3, pyarrow/PyIceberg) are pointed at the proxy instead of the store. Every
request is read completely (headers and body), then, by the current :class:`FaultPlan`:

- forwarded unchanged (method, path with query, every end-to-end header including ``Host`` as the
  client sent it, body) and the store's answer returned unchanged;
- ``drop``: the connection is closed without any response (the store never sees the request);
- ``lose_response``: forwarded, then the connection is closed without returning the store's answer
  (the request took effect, the client cannot know: a retry must be harmless);
- ``slowdown``: answered ``503 SlowDown`` with S3's XML error body (never forwarded);
- ``stall``: held for ``stall_s`` seconds and then forwarded, or with ``stall_s=None`` held until the
  plan changes or the proxy goes down and then dropped (a store that accepts and never answers). A
  stalled request released early by a plan change is dropped too.

:meth:`FaultyS3Proxy.go_down` stops listening (new connections are refused) and cuts every open
connection; :meth:`FaultyS3Proxy.come_up` listens on the same port again.

The choice for each request is one draw from ``random.Random(seed)`` in arrival order, so a plan and a
seed give the same sequence of decisions. ``max_consecutive`` bounds how many times in a row one
request (method + path + query) is faulted, so a test can assert that retries absorb faults without
depending on luck. :class:`ProxyStats` counts requests, retries (from the SDKs' attempt headers),
forwarded requests and every injected fault, per client (S3A's Java SDK, botocore, the C++ SDK under
pyarrow), so tests assert that faults really happened.
"""

from __future__ import annotations

import http.client
import logging
import random
import re
import socket
import socketserver
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

Fault = Literal["drop", "lose_response", "slowdown", "stall"]
FAULTS: tuple[Fault, ...] = ("drop", "lose_response", "slowdown", "stall")
# Hop-by-hop headers (RFC 9110 7.6.1) and those the proxy recomputes; everything else is passed through.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
               "te", "trailer", "transfer-encoding", "upgrade", "expect", "content-length"}
_ATTEMPT = re.compile(r"attempt=(\d+)")  # botocore and the C++ SDK: amz-sdk-request: attempt=2; max=5


@dataclass(frozen=True)
class FaultPlan:
    """Which fraction of requests gets which fault. Fractions are of all requests and must sum to <= 1.

    ``stall_s`` is how long a stalled request is held before it is forwarded; ``None`` holds it until
    the plan changes or the proxy stops, then drops it (never answered). ``max_consecutive`` (if set)
    forwards a request unharmed once the same method + path + query has been faulted that many times in
    a row. ``only_methods``, ``only_clients`` (see :func:`client_of`) and ``path_pattern`` (a regex
    searched in the path with its query) restrict faults to the matching requests (all when unset).
    """

    drop: float = 0.0
    lose_response: float = 0.0
    slowdown: float = 0.0
    stall: float = 0.0
    stall_s: float | None = None
    max_consecutive: int | None = None
    only_methods: frozenset[str] = frozenset()
    only_clients: frozenset[str] = frozenset()
    path_pattern: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        rates = [getattr(self, name) for name in FAULTS]
        if any(r < 0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"fault fractions must be >= 0 and sum to <= 1: {dict(zip(FAULTS, rates, strict=True))}")

    @classmethod
    def healthy(cls) -> FaultPlan:
        """Forward everything."""
        return cls()


@dataclass
class ProxyStats:
    """What the proxy saw and did. ``faults`` and ``requests`` are keyed by (client, fault) / client."""

    requests: Counter[str] = field(default_factory=Counter)  # client -> requests received (complete)
    methods: Counter[tuple[str, str]] = field(default_factory=Counter)  # (client, HTTP method) -> requests
    retries: Counter[str] = field(default_factory=Counter)  # client -> requests marked as a retry by the SDK
    forwarded: int = 0  # answered by the store and returned to the client
    faults: Counter[tuple[str, str]] = field(default_factory=Counter)  # (client, fault) -> count
    connections: int = 0  # TCP connections accepted

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_retries(self) -> int:
        return sum(self.retries.values())

    def injected(self, fault: str | None = None, client: str | None = None) -> int:
        """Faults injected, optionally only of one kind and/or for one client."""
        return sum(n for (c, f), n in self.faults.items()
                   if (fault is None or f == fault) and (client is None or c == client))

    def snapshot(self) -> ProxyStats:
        """An independent copy (the live object keeps counting)."""
        return ProxyStats(Counter(self.requests), Counter(self.methods), Counter(self.retries), self.forwarded,
                          Counter(self.faults), self.connections)

    def summary(self) -> str:
        """One line for logs and assertion messages."""
        faults = ", ".join(f"{c}/{f}={n}" for (c, f), n in sorted(self.faults.items())) or "none"
        return (f"requests={dict(self.requests)} retries={dict(self.retries)} forwarded={self.forwarded} "
                f"connections={self.connections} faults: {faults}")


def client_of(user_agent: str) -> str:
    """Which S3 client sent a request, from its User-Agent: s3a (Java SDK), boto3, pyarrow (C++ SDK)."""
    ua = user_agent.lower()
    if "aws-sdk-java" in ua or "hadoop" in ua:
        return "s3a"
    if "botocore" in ua or "boto3" in ua:
        return "boto3"
    if "aws-sdk-cpp" in ua or "arrow" in ua:
        return "pyarrow"
    return "other"


def _is_retry(headers: http.client.HTTPMessage) -> bool:
    """True when the SDK marks the request as a second or later attempt."""
    attempt = _ATTEMPT.search(headers.get("amz-sdk-request", ""))
    if attempt is not None:
        return int(attempt.group(1)) > 1
    retry = headers.get("amz-sdk-retry")  # Java SDK v1: "<retries>/<last backoff ms>/<capacity>"
    return retry is not None and not retry.startswith("0/")


def slowdown_body(path: str) -> bytes:
    """S3's XML error document for 503 SlowDown."""
    request_id = uuid.uuid4().hex[:16].upper()
    resource = path.split("?", 1)[0].replace("&", "&amp;").replace("<", "&lt;")
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
            "<Message>Please reduce your request rate.</Message>"
            f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>").encode()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, proxy: FaultyS3Proxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (timeout) or a connection cut by go_down(): expected here, not a traceback.
        log.debug("faulty-s3: connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and Expect: 100-continue is answered for us
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.proxy._closed(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("faulty-s3 %s: " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        proxy = self.server.proxy
        fault, plan, generation = proxy._decide(self.command, self.path, self.headers)
        if fault == "drop":
            self._cut()
            return
        if fault == "slowdown":
            payload = slowdown_body(self.path)
            self.send_response_only(503, "Slow Down")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        if fault == "stall":
            released = proxy._hold(plan.stall_s, generation)
            if plan.stall_s is None or released:  # never answered (or the proxy is going away)
                self._cut()
                return
        status, reason, headers, data = proxy._forward(self.command, self.path, self.headers, body)
        if fault == "lose_response":
            self._cut()
            return
        with proxy._lock:  # counted before the client can see the answer (tests read stats right after)
            proxy.stats.forwarded += 1
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        if self.command == "HEAD" or status in (204, 304) or 100 <= status < 200:
            length = next((v for n, v in headers if n.lower() == "content-length"), None)
            if length is None and self.command == "HEAD":
                self.send_header("Content-Length", "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _cut(self) -> None:
        """Close the connection without a response."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class FaultyS3Proxy:
    """A fault-injecting reverse proxy on 127.0.0.1 for the S3 endpoint at ``upstream`` (see module doc).

    Use as a context manager or call :meth:`start` / :meth:`stop`. ``url`` is what clients are given.
    The plan can be changed at any time with :meth:`set_plan`; stalled requests are released then.
    """

    def __init__(self, upstream: str, port: int = 0, plan: FaultPlan | None = None,
                 upstream_timeout_s: float = 120.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self._upstream_timeout_s = upstream_timeout_s
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._generation = 0
        self._plan = plan or FaultPlan.healthy()
        self._rng = random.Random(self._plan.seed)
        self._streak: Counter[tuple[str, str]] = Counter()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = port
        self.stats = ProxyStats()

    # ---- lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def start(self) -> FaultyS3Proxy:
        """Listen (on the fixed port once one was chosen) and serve in a background thread."""
        self.come_up()
        return self

    def come_up(self) -> None:
        """Listen again on the same port (after :meth:`go_down`); a no-op while up."""
        if self._server is not None:
            return
        server = _Server(self._port, self)
        self._port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"faulty-s3-{self._port}", daemon=True)
        self._thread.start()
        log.info("faulty S3 proxy up on %s -> %s:%d", self.url, *self._upstream)

    def go_down(self) -> None:
        """Stop listening (connections are refused from now on) and cut every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self._release_stalls()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        log.info("faulty S3 proxy on port %d is down", self._port)

    def stop(self) -> None:
        """Go down for good."""
        self.go_down()

    def __enter__(self) -> FaultyS3Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- configuration ---------------------------------------------------------------------------
    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set_plan(self, plan: FaultPlan) -> None:
        """Use ``plan`` from the next request on (the random sequence restarts from its seed); requests
        stalled under the old plan are released (dropped)."""
        with self._lock:
            self._plan = plan
            self._rng = random.Random(plan.seed)
            self._streak.clear()
        self._release_stalls()

    def heal(self) -> None:
        """No faults from now on (and listening, if it was down)."""
        self.set_plan(FaultPlan.healthy())
        self.come_up()

    @contextmanager
    def faults(self, plan: FaultPlan) -> Iterator[ProxyStats]:
        """Apply ``plan`` for the block; yields the live stats, restores a healthy proxy afterwards."""
        self.set_plan(plan)
        try:
            yield self.stats
        finally:
            self.heal()

    def reset_stats(self) -> ProxyStats:
        """Start counting from zero; returns what was counted so far."""
        with self._lock:
            old, self.stats = self.stats, ProxyStats()
        return old

    def wait_until(self, condition: Callable[[ProxyStats], bool], timeout_s: float,
                   stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait until ``condition(stats)`` holds (True), or ``timeout_s`` passed or ``stop()`` is true
        (False). Polls every 20 ms, so a test can switch faults on right after a request arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if condition(self.stats):
                    return True
            if stop():
                return False
            time.sleep(0.02)
        return False

    # ---- internals used by the handler ------------------------------------------------------------
    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            self.stats.connections += 1

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _decide(self, method: str, path: str, headers: http.client.HTTPMessage) -> tuple[Fault | None, FaultPlan, int]:
        client = client_of(headers.get("User-Agent", ""))
        with self._lock:
            plan = self._plan
            self.stats.requests[client] += 1
            self.stats.methods[(client, method)] += 1
            if _is_retry(headers):
                self.stats.retries[client] += 1
            draw = self._rng.random()
            fault: Fault | None = None
            edge = 0.0
            for name in FAULTS:
                edge += getattr(plan, name)
                if draw < edge:
                    fault = name
                    break
            if ((plan.only_methods and method not in plan.only_methods)
                    or (plan.only_clients and client not in plan.only_clients)
                    or (plan.path_pattern is not None and re.search(plan.path_pattern, path) is None)):
                fault = None
            key = (method, path)
            if fault is not None and plan.max_consecutive is not None and self._streak[key] >= plan.max_consecutive:
                fault = None
            if fault is None:
                self._streak.pop(key, None)
            else:
                self._streak[key] += 1
                self.stats.faults[(client, fault)] += 1
            return fault, plan, self._generation

    def _hold(self, seconds: float | None, generation: int) -> bool:
        """Wait ``seconds`` (forever when None) or until the plan changes; True when released early."""
        deadline = None if seconds is None else time.monotonic() + seconds
        with self._changed:
            while self._generation == generation:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(timeout=remaining if remaining is not None else 1.0)
            return True

    def _release_stalls(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _forward(self, method: str, path: str, headers: http.client.HTTPMessage,
                 body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self._upstream, timeout=self._upstream_timeout_s)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            if body or "Content-Length" in headers or method in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            out = [(n, v) for n, v in response.getheaders() if n.lower() not in _HOP_BY_HOP
                   or (n.lower() == "content-length" and method == "HEAD")]
            return response.status, response.reason, out, data
        finally:
            conn.close()


