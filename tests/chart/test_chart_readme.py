"""The README's parameter table is generated from the @param comments of values.yaml and is in
sync with it; every value is documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import chart_readme
from chart.helm_chart import CHART, ROOT

pytestmark = pytest.mark.chart


def test_the_readme_table_is_in_sync() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chart_readme.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_value_has_a_row_with_its_default() -> None:
    readme = (CHART / "README.md").read_text()
    sections = chart_readme.parse(CHART / "values.yaml")
    params = [p for s in sections for p in s.params]
    assert len(params) > 80
    for param in params:
        row = f"| `{param.path}` | "
        assert row in readme, f"no README row for {param.path}"
        line = next(line for line in readme.splitlines() if line.startswith(row))
        assert line.endswith(f"| {chart_readme.format_default(param.default)} |")
    # Every original key of the first chart is documented as such.
    original = [
        "image.name",
        "serviceAccount.create",
        "serviceAccount.name",
        "kafkaSvcNamespace",
        "kafkaSvcName",
        "replicaCount",
        "storage.size",
        "topic",
        "topicList",
        "sinkName",
        "sinkPath",
        "restartTimeout",
        "backup.enabled",
        "backup.retention",
        "encryptPassword",
        "targetPvcName",
        "nodeSelector",
        "tolerations",
        "loglevel",
        "podsecuritypolicy.enabled",
    ]
    by_path = {p.path: p for p in params}
    for key in original:
        assert "original key" in by_path[key].text.lower(), key


def test_an_undocumented_value_is_an_error(tmp_path: Path) -> None:
    values = (CHART / "values.yaml").read_text() + "\nsneaky: 1\n"
    (tmp_path / "values.yaml").write_text(values)
    with pytest.raises(chart_readme.ReadmeError, match="keys without @param: sneaky"):
        chart_readme.parse(tmp_path / "values.yaml")


def test_a_param_naming_no_key_is_an_error(tmp_path: Path) -> None:
    values = (CHART / "values.yaml").read_text() + "\n## @param ghost.key Nothing\n"
    (tmp_path / "values.yaml").write_text(values)
    with pytest.raises(chart_readme.ReadmeError, match=r"@param ghost\.key names no key"):
        chart_readme.parse(tmp_path / "values.yaml")


def test_a_stale_readme_is_reported(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text().replace("| `sinkName` |", "| `sinkNom` |")
    (tmp_path / "README.md").write_text(readme)
    assert chart_readme.main(["--chart", str(tmp_path), "--check"]) == 1
    assert chart_readme.main(["--chart", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").read_text() == (CHART / "README.md").read_text()


def test_values_yaml_is_plain_yaml() -> None:
    assert isinstance(yaml.safe_load((CHART / "values.yaml").read_text()), dict)
