"""The Connect image, built on local stand-in bases, sinks a topic of the local broker to a file
on a mounted host directory, running as its non-root user on host networking."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from docker_engine import DockerEngine
from image_helpers import (
    connect_container,
    rest_ready,
    wait_until,
    worker_properties,
    writable_by,
)
from kafka_connect_backup.config import SinkRotation
from kafka_connect_backup.layout.sinkfiles import connector_name, period_of, sink_file
from kafka_helpers import produce_json, put_connector, wait_for_lines
from kafka_stack import Broker, free_port

pytestmark = pytest.mark.images

CONNECT_UID = 1000
RECORDS = 500


def test_connect_image_runs_as_uid_1000_with_the_pinned_jars(
    docker_engine: DockerEngine, connect_image: str
) -> None:
    assert docker_engine.image_user(connect_image) == f"{CONNECT_UID}:{CONNECT_UID}"
    listing = docker_engine.docker(
        "run", "--rm", "--entrypoint", "sh", connect_image, "-c",
        "id -u; ls /opt/kafka/plugins/connect-file; ls /opt/kafka/plugins/kcb-envelope;"
        " ls /opt/kafka/libs",
    ).stdout.decode().split()  # fmt: skip
    pom = (Path(__file__).parents[2] / "images" / "connect" / "pom.xml").read_text()
    version = pom.split("<kafka.version>")[1].split("<")[0]
    assert listing[0] == str(CONNECT_UID)
    assert listing[1] == f"connect-file-{version}.jar"  # alone in its plugin directory
    assert listing[2] == "kcb-envelope-1.jar"  # the envelope transform, alone in its own
    assert f"connect-runtime-{version}.jar" in listing[3:]
    assert not any(name.startswith(("connect-file", "kcb-envelope")) for name in listing[3:])


def test_connect_image_sinks_a_topic_to_a_mounted_directory(
    connect_image: str, kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    sink_dir = writable_by(tmp_path / "sink", CONNECT_UID)
    port = free_port()
    properties = worker_properties(tmp_path / "worker.properties", kafka_broker.bootstrap, port)
    url = f"http://127.0.0.1:{port}"
    sink_name = "image-sink"
    period = period_of(datetime.now(UTC), SinkRotation.MONTHLY)
    inside = sink_file(Path("/sink"), unique_topic, sink_name, period)
    on_host = sink_dir / inside.name

    with connect_container(connect_image, properties, sink_dir, "/sink") as container:
        wait_until(rest_ready(f"{url}/connectors"), container, "Connect REST")
        name = connector_name(unique_topic, sink_name)
        put_connector(
            url,
            name,
            {
                "connector.class": "FileStreamSink",  # found only through plugin.path
                "tasks.max": "1",
                "topics": unique_topic,
                "file": str(inside),
            },
        )
        sent = produce_json(
            kafka_broker.bootstrap,
            unique_topic,
            [{"id": i, "utcTime": f"2026-01-01T00:00:{i % 60:02d}Z"} for i in range(RECORDS)],
        )
        lines = wait_for_lines(on_host, RECORDS)
        status = requests.get(f"{url}/connectors/{name}/status", timeout=10).json()

    assert lines == sent, f"{len(lines)} lines sunk, {RECORDS} sent"
    assert [json.loads(line)["id"] for line in lines] == list(range(RECORDS))
    assert status["connector"]["state"] == "RUNNING", status
    assert on_host.stat().st_uid == CONNECT_UID  # written by the non-root user
    # umask 002 (the entrypoint): group-writable, so the fsGroup's supervisor may link it.
    assert on_host.stat().st_mode & 0o777 == 0o664
