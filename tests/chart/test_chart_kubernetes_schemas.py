"""Every rendered manifest validates against the Kubernetes OpenAPI schemas (kubernetes-validate,
strict: unknown fields are errors) of several Kubernetes minor versions, for every ci/ values file
(among them the defaults plus topics, and the original chart's values)."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from chart.helm_chart import MINIMAL_VALUES, VALUES_SETS, Helm, find

pytestmark = pytest.mark.chart

# Supported upstream minors at the time of writing plus the two before them (managed clusters
# lag behind). kubernetes-validate bundles each of these.
KUBERNETES_VERSIONS = ["1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0"]

# Prometheus Operator kinds: no schema in kubernetes-validate; checked by the helm-unittest
# suites (servicemonitor_test.yaml, prometheusrule_test.yaml) instead.
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def test_the_bundled_schemas_cover_the_versions() -> None:
    bundled = {v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()}
    for version in KUBERNETES_VERSIONS:
        assert version.rsplit(".", 1)[0] in bundled


def validate_all(manifests: list[dict[str, Any]], version: str) -> list[str]:
    """Validation errors of the manifests; a manifest without a schema must be a custom kind."""
    errors = []
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        if key in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(
                f"{manifest['kind']}/{manifest['metadata']['name']}: {path}: {exc.message}"
            )
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{manifest['kind']}: no schema ({exc.message})")
    return errors


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_manifests_validate(helm: Helm, values_set: str, version: str) -> None:
    manifests = helm.template(VALUES_SETS[values_set], kube_version=version)
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "ConfigMap"} <= kinds
    assert validate_all(manifests, version) == []


@pytest.mark.parametrize("version", ["1.29.0", "1.33.0"])
def test_device_plugin_mode_validates_on_both_sides_of_apparmor_ga(
    helm: Helm, version: str
) -> None:
    # Before 1.30 the AppArmor profile is an annotation, from 1.30 a securityContext field.
    manifests = helm.template(
        [VALUES_SETS["backup-gocryptfs-nfs-deviceplugin-values"][0]], kube_version=version
    )
    assert validate_all(manifests, version) == []


def test_the_validator_rejects_a_broken_deployment(helm: Helm) -> None:
    # The validation above is only worth something if it fails on bad input.
    deployment = copy.deepcopy(find(helm.template([MINIMAL_VALUES]), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privilegd"] = True
    assert len(validate_all([deployment], "1.35.0")) == 1
    deployment = copy.deepcopy(find(helm.template([MINIMAL_VALUES]), "Deployment"))
    deployment["spec"]["replicas"] = "one"
    assert len(validate_all([deployment], "1.35.0")) == 1
