"""E2e tier fixtures: a real one-node Kubernetes cluster (scripts/kube_cluster.py) with the two
project images side-loaded, and a Kafka broker its pods reach on the node's address.

A missing binary is a set-up error (the fixture fails and names `make setup`), never a skip.
The cluster dies with this pytest process even when it is killed (its PID namespace is tied
to it); `down` also removes the node's links.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from docker_engine import DockerEngine
from e2e.release import Release
from kafka_stack import Broker, SecureBroker, start_broker
from kube_cluster import ClusterError, KubeCluster

_counter = itertools.count()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so a fixture can print the pod logs on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    cluster = KubeCluster(tmp_path_factory.mktemp("kube-cluster"))
    try:
        cluster.up(tie_to_parent=True)
    except ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def image_archives(
    docker_engine: DockerEngine,
    connect_image: str,
    backup_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """Both images built by the images tier's engine, saved for `ctr images import`."""
    archives = tmp_path_factory.mktemp("images")
    saved = {}
    for role, image in (("connect", connect_image), ("supervisor", backup_image)):
        saved[image] = archives / f"{role}.tar"
        docker_engine.docker("save", "-o", str(saved[image]), image, timeout=600)
    return saved


@pytest.fixture(scope="session")
def cluster_images(
    kube_cluster: KubeCluster,
    image_archives: dict[str, Path],
    connect_image: str,
    backup_image: str,
) -> dict[str, str]:
    """Both images side-loaded into the node's containerd (pods use pullPolicy Never)."""
    for archive in image_archives.values():
        kube_cluster.import_image(archive)
    return {"connect": connect_image, "supervisor": backup_image}


@pytest.fixture(scope="session")
def pod_broker(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    """A KRaft broker on the node's address: reachable from the pods and from the tests."""
    broker = start_broker(tmp_path_factory.mktemp("pod-broker"), host=kube_cluster.node_ip)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def secure_pod_broker(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureBroker]:
    """A secured broker (SASL_SSL and mutual TLS only, its own CA, ACLs enforced) on the
    node's address, so its certificate names the address the pods connect to. Started only
    for the tests that ask for it."""
    work_dir = tmp_path_factory.mktemp("secure-pod-broker")
    broker = SecureBroker("secure-broker", work_dir, host=kube_cluster.node_ip)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def release(
    request: pytest.FixtureRequest,
    kube_cluster: KubeCluster,
    cluster_images: dict[str, str],
    pod_broker: Broker,
    tmp_path: Path,
) -> Iterator[Release]:
    """A fresh namespace with hostPath volumes for the data and the backup target; the
    release in it is uninstalled and the namespace deleted afterwards."""
    name = f"e2e-{os.getpid() % 10000}-{next(_counter)}"
    created = Release(kube_cluster, pod_broker, cluster_images, namespace=name, volumes=tmp_path)
    created.create_namespace()
    try:
        yield created
    finally:
        created.dump_logs_on_failure(request)
        created.delete()
