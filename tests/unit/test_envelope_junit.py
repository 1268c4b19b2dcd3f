"""The envelope transform's JUnit 5 tests (images/connect/envelope), run by Maven inside `make
test`: the same reactor and Kafka version as the local stack and the Connect image. Maven
resolves what it needs into its local repository once (`make setup` already did) and runs
offline-fast after that."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.java

CONNECT = Path(__file__).resolve().parents[2] / "images" / "connect"
REPORTS = CONNECT / "envelope" / "target" / "surefire-reports"


def test_envelope_transform_junit_tests_pass() -> None:
    mvn = shutil.which("mvn")
    assert mvn, "mvn not found: run `make setup` (installs maven and a JDK)"
    shutil.rmtree(REPORTS, ignore_errors=True)  # never read an earlier run's results
    run = subprocess.run(
        [mvn, "-B", "-q", "-f", str(CONNECT / "pom.xml"), "-pl", "envelope", "test"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, f"mvn test failed:\n{run.stdout[-8000:]}\n{run.stderr[-4000:]}"
    suites = [ET.parse(path).getroot() for path in sorted(REPORTS.glob("TEST-*.xml"))]
    assert [s.get("name") for s in suites] == ["io.github.kafkaconnectbackup.envelope.EnvelopeTest"]
    suite = suites[0]
    counts = {key: int(suite.get(key, "-1")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 30, counts  # every case ran, parameterised ones included
    assert (counts["failures"], counts["errors"], counts["skipped"]) == (0, 0, 0), counts
