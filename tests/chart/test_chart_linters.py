"""The linters users run on Helm charts, checkov and kube-score (pinned, from `make setup`), on the
chart's default, backup, devicePlugin and secured (Kafka credentials mounted) renders. Every
finding they still report is listed with its reason in
charts/kafka-connect-backup/linters/exemptions.yaml: a finding not listed fails (fix it, or
exempt it with a reason), and so does an exemption that matches nothing any more, so the file
stays the honest list of what the chart knowingly does."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from chart.helm_chart import CHART, NAMESPACE, RELEASE, ROOT, Helm

pytestmark = [pytest.mark.chart, pytest.mark.timeout(900)]

EXEMPTIONS = CHART / "linters" / "exemptions.yaml"
KUBE_SCORE = ROOT / ".tools" / "bin" / "kube-score"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
TOOLS = {"checkov": CHECKOV, "kube-score": KUBE_SCORE}
# checkov offline: no Prisma Cloud guidelines download, no PyPI update check.
CHECKOV_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}


@dataclass(frozen=True, order=True)
class Finding:
    tool: str
    render: str
    check: str
    item: str  # checkov: the resource; kube-score: "<container or object>: <summary>"

    def __str__(self) -> str:
        return f"{self.tool} {self.check} [{self.render}] {self.item}"


def _exemptions() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXEMPTIONS.read_text())
    return data


def exempted(data: dict[str, Any], tool: str) -> set[Finding]:
    """The findings the exemptions file lists for one tool; each entry must give a reason."""
    out: set[Finding] = set()
    for entry in data["exemptions"]:
        assert str(entry.get("reason", "")).strip(), f"exemption without a reason: {entry}"
        unknown = set(entry["renders"]) - set(data["renders"])
        assert not unknown, f"{entry['check']}: unknown renders {sorted(unknown)}"
        if entry["tool"] != tool:
            continue
        for render in entry["renders"]:
            for item in entry["items"]:
                out.add(Finding(tool, render, entry["check"], item))
    return out


def checkov_findings(render: str, manifest: Path) -> set[Finding]:
    done = subprocess.run(
        [
            str(CHECKOV), "--file", str(manifest), "--framework", "kubernetes",
            "--output", "json", "--quiet", "--skip-download",
        ],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, **CHECKOV_ENV},
    )  # fmt: skip
    # Exit 1 means "failed checks", which is what is compared; anything else is an error.
    assert done.returncode in (0, 1), done.stderr[-3000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert reports and all(r["summary"]["parsing_errors"] == 0 for r in reports), done.stdout[:2000]
    assert sum(r["summary"]["passed"] for r in reports) > 50, "checkov ran (almost) no check"
    return {
        Finding("checkov", render, failed["check_id"], failed["resource"])
        for report in reports
        for failed in report["results"]["failed_checks"]
    }


def kube_score_findings(render: str, manifest: Path) -> set[Finding]:
    done = subprocess.run(
        [str(KUBE_SCORE), "score", "--output-format", "json", str(manifest)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    # Exit 1 means critical findings, which is what is compared.
    assert done.returncode in (0, 1), done.stderr[-3000:]
    objects = json.loads(done.stdout)
    assert objects, "kube-score scored nothing"
    found: set[Finding] = set()
    for scored in objects:
        kind = scored["type_meta"]["kind"]
        name = f"{kind}/{scored['object_meta']['name']}"
        for check in scored["checks"]:
            # Grades: 10 all OK, 7 almost OK, 5 warning, 1 critical.
            if check["skipped"] or check["grade"] >= 10:
                continue
            comments = check.get("comments") or [{"path": "", "summary": "(no comment)"}]
            for comment in comments:
                where = comment.get("path") or name
                found.add(
                    Finding(
                        "kube-score", render, check["check"]["id"], f"{where}: {comment['summary']}"
                    )
                )
    return found


FINDERS = {"checkov": checkov_findings, "kube-score": kube_score_findings}


@pytest.fixture(scope="module")
def renders(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each render the exemptions file names, as one manifest file."""
    out = tmp_path_factory.mktemp("renders")
    manifests: dict[str, Path] = {}
    for render, values in _exemptions()["renders"].items():
        text = helm.run(
            "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values",
            str(CHART / values),
        ).stdout  # fmt: skip
        manifests[render] = out / f"{render}.yaml"
        manifests[render].write_text(text)
    return manifests


def _tool(tool: str) -> None:
    path = TOOLS[tool]
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{tool} is not installed at {path}: run `bash scripts/setup/linters.sh` "
            "(or make setup)",
            pytrace=False,
        )


def _differences(found: set[Finding], allowed: set[Finding]) -> list[str]:
    new = sorted(found - allowed)
    stale = sorted(allowed - found)
    lines = [f"new finding (fix it, or exempt it with a reason): {f}" for f in new]
    lines += [f"exemption matching nothing any more (remove it): {f}" for f in stale]
    return lines


@pytest.mark.parametrize("tool", sorted(FINDERS))
def test_linter_findings_are_exactly_the_exempted_ones(tool: str, renders: dict[str, Path]) -> None:
    _tool(tool)
    found: set[Finding] = set()
    for render, manifest in renders.items():
        found |= FINDERS[tool](render, manifest)
    problems = _differences(found, exempted(_exemptions(), tool))
    assert problems == [], f"{EXEMPTIONS.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_the_renders_are_default_backup_device_plugin_and_secured() -> None:
    renders = _exemptions()["renders"]
    assert sorted(renders) == ["backup", "default", "devicePlugin", "secured"]
    for values in renders.values():
        assert (CHART / values).is_file(), values
    device = yaml.safe_load((CHART / renders["devicePlugin"]).read_text())
    assert device["backup"]["enabled"] and device["backup"]["fuse"]["mode"] == "devicePlugin"
    assert yaml.safe_load((CHART / renders["backup"]).read_text())["backup"]["enabled"]
    secured = yaml.safe_load((CHART / renders["secured"]).read_text())["kafka"]
    assert secured["tls"]["enabled"] and secured["authentication"]["type"]


@pytest.mark.parametrize("tool", sorted(FINDERS))
def test_a_weakened_render_fails_the_comparison(tool: str, helm: Helm, tmp_path: Path) -> None:
    """The comparison can fail: a connect container that may write its root filesystem and
    escalate privileges is a new finding for both linters."""
    _tool(tool)
    values = CHART / _exemptions()["renders"]["devicePlugin"]
    text = helm.run(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", str(values),
        "--set", "connect.containerSecurityContext.readOnlyRootFilesystem=false",
        "--set", "connect.containerSecurityContext.allowPrivilegeEscalation=true",
    ).stdout  # fmt: skip
    manifest = tmp_path / "weak.yaml"
    manifest.write_text(text)
    found = FINDERS[tool]("devicePlugin", manifest)
    problems = _differences(found, exempted(_exemptions(), tool))
    new = [p for p in problems if p.startswith("new finding")]
    expected = {
        "checkov": "CKV_K8S_22",
        "kube-score": "container-security-context-readonlyrootfilesystem",
    }
    assert any(expected[tool] in p for p in new), problems


def _items(entries: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["tool"], e["check"]) for e in entries]


def test_exemptions_are_one_entry_per_check_each_with_a_reason() -> None:
    entries = _exemptions()["exemptions"]
    keys = _items(entries)
    assert len(keys) == len(set(keys)), "one entry per tool and check"
    for entry in entries:
        assert entry["tool"] in FINDERS, entry
        assert entry["items"] and entry["renders"], entry
        assert len(str(entry["reason"]).split()) >= 8, f"say why: {entry['check']}"
