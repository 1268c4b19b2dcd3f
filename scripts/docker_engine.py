"""The Docker engine for the images tier: use the running one, or start dockerd ourselves.

No image registry is reachable here, so the engine runs without a bridge or iptables rules
(containers use host networking only) and base images are local stand-ins built by
scripts/setup/docker.sh. An engine this module started is stopped again by `stop()`; one that
was already running is left alone. dockerd's log: `.tools/logs/dockerd.log`.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kafka_stack import stop_process

ROOT = Path(__file__).resolve().parents[1]
DOCKERD_LOG = ROOT / ".tools" / "logs" / "dockerd.log"
BASES_SCRIPT = ROOT / "scripts" / "setup" / "docker.sh"

# Local stand-ins (scripts/setup/docker.sh) for the public bases named in the Dockerfiles.
LOCAL_DEBIAN = "kcb-local/debian:bookworm"  # debian:bookworm-slim
LOCAL_JRE = "kcb-local/jre:17"  # eclipse-temurin:17-jre
LOCAL_MAVEN = "kcb-local/maven:3-jdk17"  # maven:3-eclipse-temurin-17

# Every test container carries the pid of the pytest process that made it, so a later session
# can remove what a killed one left behind (testcontainers' own reaper, Ryuk, is an image from
# a registry we cannot reach).
OWNER_LABEL = "kcb.test.owner-pid"


class DockerError(RuntimeError):
    """The engine or a docker command failed; the message carries the output that says why."""


def docker_cli() -> str:
    """The Debian client (same version as the Debian engine), else whatever `docker` is on PATH:
    /usr/local/bin/docker may be a newer client that shadows it; both talk to the engine."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DockerError("no docker client: run `make setup` (installs the docker.io package)")


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class DockerEngine:
    cli: str
    process: subprocess.Popen[bytes] | None = None  # set when this module started dockerd

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def answers(self) -> bool:
        try:
            probe = subprocess.run(
                [self.cli, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0

    def docker(
        self, *args: str, stdin: bytes | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a docker command; DockerError with its output when it fails."""
        done = subprocess.run(
            [self.cli, *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
            # The Debian 20.10 client builds with the classic builder: no buildx plugin needed.
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            tail = "\n".join(output.splitlines()[-40:])
            raise DockerError(f"docker {' '.join(args[:3])} failed ({done.returncode}):\n{tail}")
        return done

    def build(
        self,
        tag: str,
        *,
        context: Path | None = None,
        context_tar: bytes | None = None,
        dockerfile: str | None = None,
        build_args: Mapping[str, str] | None = None,
        timeout: float = 1800,
    ) -> float:
        """`docker build --network host` from a directory or a tar stream; returns seconds."""
        # --force-rm: a failed step leaves no stopped container behind.
        args = ["build", "--force-rm", "--network", "host", "-t", tag]
        if dockerfile:
            args += ["-f", dockerfile]
        for key, value in (build_args or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        args.append(str(context) if context is not None else "-")
        started = time.monotonic()
        self.docker(*args, stdin=context_tar, timeout=timeout)
        return time.monotonic() - started

    def image_user(self, image: str) -> str:
        return (
            self.docker("image", "inspect", "-f", "{{.Config.User}}", image).stdout.decode().strip()
        )

    def remove_containers(self, label: str) -> None:
        ids = self.docker("ps", "-aq", "--filter", f"label={label}").stdout.decode().split()
        if ids:
            self.docker("rm", "-f", *ids)

    def remove_orphans(self) -> list[str]:
        """Remove test containers whose owning pytest process is gone; returns their ids."""
        listing = self.docker(
            "ps", "-a", "--filter", f"label={OWNER_LABEL}",
            "--format", f'{{{{.ID}}}} {{{{.Label "{OWNER_LABEL}"}}}}',
        ).stdout.decode()  # fmt: skip
        orphans = [
            cid for cid, pid in (line.split() for line in listing.splitlines()) if not _alive(pid)
        ]
        if orphans:
            self.docker("rm", "-f", *orphans)
        return orphans

    def stop(self, timeout: float = 30) -> None:
        """Stop dockerd if this module started it (SIGTERM: it stops its containerd too)."""
        stop_process(self.process, timeout)
        self.process = None


def start_engine(timeout: float = 60) -> DockerEngine:
    """The running engine, or a dockerd started here (default data-root, so images persist in
    /var/lib/docker between runs) once it answers."""
    engine = DockerEngine(docker_cli())
    if engine.answers():
        return engine
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise DockerError("dockerd not found: run `make setup` (installs the docker.io package)")
    if os.geteuid() != 0:
        raise DockerError("no Docker engine is running and starting dockerd needs root")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DOCKERD_LOG.open("ab") as log:
        engine.process = subprocess.Popen(
            [dockerd, "--bridge=none", "--iptables=false"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for pytest must not kill the engine mid-run
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.answers():
            return engine
        if engine.process.poll() is not None:
            engine.process = None
            if engine.answers():  # another session started one at the same moment
                return engine
            raise DockerError(f"dockerd exited; see {DOCKERD_LOG}:\n{_tail(DOCKERD_LOG)}")
        time.sleep(0.5)
    engine.stop()
    raise DockerError(f"dockerd not ready after {timeout:.0f}s; see {DOCKERD_LOG}")


def build_local_bases(engine: DockerEngine) -> None:
    """Build (or find cached) the local stand-in base images."""
    done = subprocess.run(
        ["bash", str(BASES_SCRIPT)],
        capture_output=True,
        timeout=1800,
        check=False,
        env={**os.environ, "DOCKER": engine.cli},
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")
        raise DockerError(f"{BASES_SCRIPT.name} failed ({done.returncode}):\n{output[-4000:]}")


def context_tar(paths: Iterable[str], root: Path = ROOT) -> bytes:
    """A build context holding exactly `paths` (relative to root), so the classic builder never
    uploads the whole repository (.tools holds gigabytes)."""
    buffer = io.BytesIO()

    def no_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if "__pycache__" in Path(info.name).parts else info

    # GNU format: the docker CLI recognises a tar on stdin by its first 512-byte header only,
    # which a leading PAX extended header would hide.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in paths:
            if not (root / path).exists():
                raise DockerError(f"build context: {path} is missing")
            tar.add(root / path, arcname=path, filter=no_caches)
    return buffer.getvalue()
