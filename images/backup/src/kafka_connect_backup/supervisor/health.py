"""HTTP endpoint of the supervisor on metrics.host:metrics.port (a thread beside the loop).

GET  /healthz     200 while the supervisor loop is alive (503 when it is wedged): liveness
GET  /readyz      200 while the loop is alive and Connect's REST API answers (503 otherwise,
                  naming which): readiness. `/ready` is the same endpoint
GET  /metrics     Prometheus text format
GET  /status      JSON: `kcb status`'s document (supervisor/status.py) and the loop's state
POST /backup-now  run a cycle now; `?wait=1` answers when it is done with its summary

POST is accepted from a loopback client only (403 otherwise): the port is exposed through the
metrics Service, and anyone in the cluster triggering cycles in a row would rotate every older
snapshot away. `kcb backup-now` inside the pod connects to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from kafka_connect_backup.core.durations import parse_duration
from kafka_connect_backup.core.logs import get_logger
from kafka_connect_backup.supervisor.metrics import CONTENT_TYPE, Metrics

log = get_logger(__name__)


class Supervised(Protocol):
    """What the endpoint needs from the daemon."""

    def health(self) -> tuple[bool, dict[str, Any]]: ...

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...

    def backup_status(self) -> dict[str, Any]: ...

    def request_cycle(self, wait: bool, timeout: float) -> dict[str, Any]: ...


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class names it)
        pass  # probes every few seconds would flood the log

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, data: dict[str, Any]) -> None:
        self._send(code, json.dumps(data).encode() + b"\n")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            healthy, detail = self.server.supervised.health()
            self._json(200 if healthy else 503, {"status": "ok" if healthy else "stuck", **detail})
        elif path in ("/readyz", "/ready"):
            ready, detail = self.server.supervised.readiness()
            status = "ready" if ready else "not ready"
            self._json(200 if ready else 503, {"status": status, **detail})
        elif path == "/metrics":
            self._send(200, self.server.metrics.render(), CONTENT_TYPE)
        elif path == "/status":
            self._status()
        else:
            self._json(404, {"error": f"no such endpoint {path}"})

    def _status(self) -> None:
        try:
            document = self.server.supervised.backup_status()
        except Exception as exc:  # an answer, not a dropped connection
            log.exception("http.status_error", cause="unexpected", error=str(exc))
            error = f"the status could not be read ({type(exc).__name__}: {exc})"
            self._json(500, {"error": error, "fix": "report a bug with the supervisor's log"})
            return
        self._json(200, document)

    def do_POST(self) -> None:
        client = str(self.client_address[0])
        if not is_loopback(client):
            log.warning("http.post_refused", client=client, path=urlsplit(self.path).path)
            self._json(
                403,
                {
                    "error": f"POST is accepted from loopback only, not from {client}",
                    "fix": "run `kcb backup-now` inside the supervisor container "
                    "(kubectl exec), which connects to 127.0.0.1",
                },
            )
            return
        url = urlsplit(self.path)
        if url.path != "/backup-now":
            self._json(404, {"error": f"no such endpoint {url.path}"})
            return
        query = parse_qs(url.query)
        wait = query.get("wait", ["0"])[0] in ("1", "true", "yes")
        text = query.get("timeout", ["86400"])[0]
        try:
            timeout = parse_duration(text)
        except ValueError as exc:  # nan, inf, -1: refused before a cycle is requested
            self._json(
                400,
                {"error": f"timeout {exc}", "fix": "give the seconds to wait, e.g. 3600"},
            )
            return
        answer = self.server.supervised.request_cycle(wait, timeout)
        self._json(200 if wait and answer.get("done") else 202, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    supervised: Supervised
    metrics: Metrics


class HealthServer:
    """Serves the endpoints from a background thread; `port` 0 in the config disables it."""

    def __init__(self, host: str, port: int, supervised: Supervised, metrics: Metrics) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.supervised = supervised
        self._server.metrics = metrics
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="kcb-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("http.listening", host=self._server.server_address[0], port=self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
