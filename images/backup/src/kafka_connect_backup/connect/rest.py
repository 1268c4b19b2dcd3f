"""Kafka Connect REST client: the handful of calls the supervisor and restore need.

Transient failures (connection refused, timeouts, 5xx, 409 while the worker is busy) are retried
with tenacity: bounded attempts, exponential backoff, one log event per retry. What is still
failing after that raises `ConnectError` naming the cause and the fix.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.logs import get_logger

log = get_logger(__name__)

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class ConnectError(KcbError):
    """The Connect REST API is unreachable or refused a request."""

    cause = "connect_error"


class _Transient(Exception):
    """A response worth retrying (5xx, 409)."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}: {_message(response)}")
        self.response = response


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])[:300]
    return str(body)[:300]


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, requests.ConnectionError | requests.Timeout | _Transient)


@dataclass(frozen=True)
class ConnectorStatus:
    """`GET /connectors/{n}/status`: the connector's state and its tasks' states."""

    name: str
    state: str
    tasks: tuple[str, ...] = ()
    traces: tuple[str, ...] = field(default=(), compare=False)

    @property
    def running(self) -> bool:
        return (
            self.state == "RUNNING" and bool(self.tasks) and all(t == "RUNNING" for t in self.tasks)
        )

    @property
    def stopped(self) -> bool:
        """Stopped and every task gone: files flushed and closed, offsets committed."""
        return self.state == "STOPPED" and not self.tasks


class ConnectClient:
    """Synchronous client for one Connect worker's REST API."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 15.0,
        attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        # A requests.Session is not thread-safe, and the cycle stops and resumes connectors
        # from several threads at once (connect/parallel.py): each call borrows an idle
        # session (its kept-alive connection with it) and gives it back.
        self._idle: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    @contextmanager
    def _session(self) -> Iterator[requests.Session]:
        try:
            session = self._idle.get_nowait()
        except queue.Empty:
            session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        try:
            yield session
        finally:
            self._idle.put(session)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._idle = queue.SimpleQueue()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "connect.retry",
            url=self.url,
            call=state.kwargs.get("what", ""),
            attempt=state.attempt_number,
            max_attempts=self.attempts,
            sleep_seconds=round(state.next_action.sleep, 2) if state.next_action else 0,
            error=str(exc),
        )

    # `what` names the call in _log_retry, which reads it from the retry state.
    def _once(self, method: str, path: str, body: Any, *, what: str) -> requests.Response:  # noqa: ARG002
        with self._session() as session:
            response = session.request(
                method, self.url + path, json=body, headers=_JSON, timeout=self.timeout
            )
        if response.status_code >= 500 or response.status_code == 409:
            raise _Transient(response)
        return response

    def request(
        self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200,)
    ) -> requests.Response:
        """One REST call with bounded retries; a status outside `ok` (and 404) raises."""
        what = f"{method} {path}"
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max),
            retry=retry_if_exception(_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            response: requests.Response = retrying(self._once, method, path, body, what=what)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ConnectError(
                f"Kafka Connect at {self.url} is unreachable ({what}: {type(exc).__name__} "
                f"after {self.attempts} attempts)",
                cause="connect_unreachable",
                fix="check that the connect container is running and its REST listener is "
                "up (connect.url in the config); the supervisor retries on its next run",
            ) from exc
        except _Transient as exc:
            raise ConnectError(
                f"Kafka Connect at {self.url} failed {what}: {exc}",
                cause="connect_error",
                fix="read the connect container's log for the worker error; the supervisor "
                "retries on its next run",
            ) from exc
        if response.status_code not in ok and response.status_code != 404:
            raise ConnectError(
                f"Kafka Connect refused {what}: HTTP {response.status_code}: {_message(response)}",
                cause="connect_rejected",
                fix="check connect.connectorConfig in the config and that the connect-file "
                "plugin is on the worker's plugin.path",
            )
        return response

    # -- API ------------------------------------------------------------------------------

    def connectors(self) -> list[str]:
        names: list[str] = self.request("GET", "/connectors").json()
        return sorted(names)

    def configs(self) -> dict[str, dict[str, str]]:
        """Every connector's config, in one call."""
        body = self.request("GET", "/connectors?expand=info").json()
        return {name: dict(entry.get("info", {}).get("config", {})) for name, entry in body.items()}

    def config(self, name: str) -> dict[str, str] | None:
        response = self.request("GET", f"/connectors/{_q(name)}/config")
        if response.status_code == 404:
            return None
        config: dict[str, str] = response.json()
        return config

    def put_config(self, name: str, config: dict[str, str]) -> bool:
        """Create or update; True when the connector was created."""
        response = self.request("PUT", f"/connectors/{_q(name)}/config", config, ok=(200, 201))
        if response.status_code == 404:
            raise ConnectError(f"PUT config of {name} answered 404", cause="connect_error")
        return response.status_code == 201

    def status(self, name: str) -> ConnectorStatus | None:
        response = self.request("GET", f"/connectors/{_q(name)}/status")
        if response.status_code == 404:
            return None
        body = response.json()
        tasks = body.get("tasks", [])
        return ConnectorStatus(
            name=name,
            state=str(body.get("connector", {}).get("state", "UNKNOWN")),
            tasks=tuple(str(t.get("state", "UNKNOWN")) for t in tasks),
            traces=tuple(str(t["trace"])[:500] for t in tasks if t.get("trace")),
        )

    def stop(self, name: str) -> bool:
        """PUT /connectors/{n}/stop; False when the connector does not exist.

        Existence is checked first: older workers answered 500 for an unknown name."""
        if self.status(name) is None:
            return False
        response = self.request("PUT", f"/connectors/{_q(name)}/stop", ok=(202, 204))
        return response.status_code != 404

    def recreate(self, name: str, config: dict[str, str] | None = None) -> bool:
        """Resume a stopped or paused connector by deleting and creating it again (with
        `config`, else its own); False when it does not exist. Not PUT /resume: in
        standalone a resume takes the config store's lock before the herder's and the task
        update it schedules takes them the other way round, so a resume with any other
        request close by can deadlock the worker (seen with Kafka 4.3: every REST call
        hangs). The new connector starts RUNNING from its group's committed offsets,
        appending to the same file."""
        config = config if config is not None else self.config(name)
        if config is None:
            return False
        self.delete(name)
        self.put_config(name, config)
        return True

    def delete(self, name: str) -> bool:
        response = self.request("DELETE", f"/connectors/{_q(name)}", ok=(204,))
        return response.status_code != 404

    def wait_for(
        self,
        name: str,
        predicate: Any,
        *,
        timeout: float,
        interval: float = 0.1,
    ) -> ConnectorStatus | None:
        """Poll the status until predicate(status) holds; the last status otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(name)
            if predicate(status) or time.monotonic() >= deadline:
                return status
            time.sleep(interval)


def _q(name: str) -> str:
    return quote(name, safe="")
