"""No topic has a default: a values file backs up exactly the topics it names (`topic`,
`topicList` and `topics` merged), and one naming none fails with a message naming the three."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from chart.helm_chart import CHART, ROOT, Helm, HelmError, supervisor_config_document
from kafka_connect_backup.config import parse_config

pytestmark = pytest.mark.chart


def readme_minimal_values() -> str:
    """The "minimal values file" of the top-level README, as a user copies it."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"A minimal values file.*?```yaml\n(.*?)```", readme, re.DOTALL)
    assert match, "README.md has no minimal values block"
    return match[1]


def test_the_readme_minimal_values_back_up_only_their_topics(helm: Helm, tmp_path: Path) -> None:
    values = readme_minimal_values()
    assert yaml.safe_load(values)["topicList"] == "orders,payments"
    (tmp_path / "my-values.yaml").write_text(values)
    manifests = helm.template([tmp_path / "my-values.yaml"])
    assert parse_config(supervisor_config_document(manifests)).topics == ["orders", "payments"]
    assert "mytopic" not in yaml.safe_dump_all(manifests)


@pytest.mark.parametrize(
    ("set_values", "expected"),
    [
        ({"topicList": "orders,payments"}, ["orders", "payments"]),
        ({"topics": ["orders"]}, ["orders"]),
        ({"topic": "orders"}, ["orders"]),
        ({"topic": "a", "topicList": "b, a", "topics": ["c", "b"]}, ["a", "b", "c"]),
    ],
)
def test_only_the_listed_topics_are_backed_up(
    helm: Helm, set_values: dict[str, object], expected: list[str]
) -> None:
    manifests = helm.template(set_values=set_values)
    assert parse_config(supervisor_config_document(manifests)).topics == expected


def test_the_default_topic_is_empty() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (values["topic"], values["topicList"], values["topics"]) == ("", "", [])


def test_values_without_a_topic_fail_naming_topic_topiclist_and_topics(helm: Helm) -> None:
    with pytest.raises(HelmError) as schema_error:
        helm.template()
    stderr = schema_error.value.stderr
    assert "values don't meet the specifications of the schema" in stderr
    for key in ("at '/topic': minLength", "at '/topicList'", "at '/topics': minItems"):
        assert key in stderr
    with pytest.raises(HelmError) as guard_error:
        helm.template(extra=("--skip-schema-validation",))
    assert (
        "topics: at least one topic is required: set topic, topicList (comma-separated) or topics"
        in guard_error.value.stderr
    )
