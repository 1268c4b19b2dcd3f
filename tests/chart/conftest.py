"""Chart tier fixtures: the real helm binary and helm-unittest plugin from `make setup`.

A missing tool is a set-up error (the test errors), never a skip: run `bash scripts/setup/helm.sh`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chart.helm_chart import HELM, HELM_PLUGINS, Helm


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    if not (HELM.is_file() and os.access(HELM, os.X_OK)):
        pytest.fail(
            f"helm is not installed at {HELM}: run `bash scripts/setup/helm.sh` (or make setup)",
            pytrace=False,
        )
    tool = Helm(HELM, tmp_path_factory.mktemp("helm-home"))
    version = tool.run("version", "--short").stdout.strip()
    if not version.startswith("v3."):
        pytest.fail(f"{HELM} is {version}, the chart tier expects helm v3", pytrace=False)
    return tool


@pytest.fixture(scope="session")
def helm_unittest(helm: Helm) -> Helm:
    plugin: Path = HELM_PLUGINS / "helm-unittest"
    if not (plugin / "plugin.yaml").is_file() or not (plugin / "untt").is_file():
        pytest.fail(
            f"the helm-unittest plugin is not installed in {plugin}: run "
            "`bash scripts/setup/helm.sh` (or make setup)",
            pytrace=False,
        )
    return helm
