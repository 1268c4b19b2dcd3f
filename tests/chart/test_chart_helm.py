"""helm lint --strict and the helm-unittest suites, run with the real helm and plugin."""

from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from chart.helm_chart import CHART, VALUES_SETS, Helm

pytestmark = pytest.mark.chart

TEMPLATES = sorted(
    p.name for p in (CHART / "templates").iterdir() if p.is_file() and not p.name.startswith("_")
)


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_helm_lint_strict(helm: Helm, values_set: str) -> None:
    args = ["lint", "--strict", str(CHART), "--namespace", "backup"]
    for path in VALUES_SETS[values_set]:
        args += ["--values", str(path)]
    result = helm.run(*args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


def _run_unittest(helm: Helm, report: Path, *args: str) -> tuple[int, int]:
    """Run helm unittest with a JUnit report; (tests, failures + errors)."""
    result = helm.run(
        "unittest", "--strict", "-t", "JUnit", "-o", str(report), *args, str(CHART), check=False
    )
    root = ET.parse(report).getroot()
    suites = root.findall("testsuite")
    tests = sum(int(s.get("tests", "0")) for s in suites)
    bad = sum(int(s.get("failures", "0")) + int(s.get("errors", "0")) for s in suites)
    assert result.returncode == 0, result.stdout + result.stderr
    return tests, bad


def test_helm_unittest_suites_pass(helm_unittest: Helm, tmp_path: Path) -> None:
    tests, bad = _run_unittest(helm_unittest, tmp_path / "unittest.xml")
    assert bad == 0
    # Guard against a glob that silently finds nothing: the suites hold well over 100 tests.
    assert tests >= 100, f"only {tests} helm-unittest tests ran"


def test_template_guards_pass_without_the_schema(helm_unittest: Helm, tmp_path: Path) -> None:
    tests, bad = _run_unittest(
        helm_unittest,
        tmp_path / "guards.xml",
        "--skip-schema-validation",
        "-f",
        "tests/guards/*_test.yaml",
    )
    assert bad == 0
    assert tests >= 10, f"only {tests} guard tests ran"


def test_every_template_has_a_unittest_suite() -> None:
    covered: set[str] = set()
    for suite_file in (CHART / "tests").glob("*_test.yaml"):
        suite = yaml.safe_load(suite_file.read_text())
        if "snapshot" in suite_file.name:
            continue  # snapshots cover everything; each template still needs its own suite
        covered.update(Path(t).name for t in suite.get("templates", []))
    missing = [t for t in TEMPLATES if t not in covered]
    assert not missing, f"templates without a helm-unittest suite: {missing}"


def test_snapshots_are_committed_and_current(helm_unittest: Helm) -> None:
    snapshot = CHART / "tests" / "__snapshot__" / "snapshot_test.yaml.snap"
    assert snapshot.is_file(), "run helm unittest -u once and commit the snapshot"
    before = snapshot.read_text()
    result = helm_unittest.run("unittest", "-f", "tests/snapshot_test.yaml", str(CHART))
    counts = re.search(r"Snapshot:\s+(\d+) passed, (\d+) total", result.stdout)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 0, result.stdout
    assert snapshot.read_text() == before, "helm unittest rewrote the snapshot"


def test_the_packaged_chart_leaves_tests_out_and_renders(helm: Helm, tmp_path: Path) -> None:
    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("kafka-connect-backup-*.tgz")
    with tarfile.open(package) as archive:
        names = archive.getnames()
    assert "kafka-connect-backup/values.schema.json" in names
    assert "kafka-connect-backup/README.md" in names
    assert not [
        n for n in names if n.startswith(("kafka-connect-backup/tests", "kafka-connect-backup/ci"))
    ]
    rendered = helm.run("template", "kcb", str(package), "--set", "topic=orders").stdout
    assert "kind: Deployment" in rendered
