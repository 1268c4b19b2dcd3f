#!/usr/bin/env python3
"""Build the project's two images: `make images` (and the images and e2e test tiers).

    scripts/images.py [--registry REG] [--tag TAG] [--bases auto|public|local]

  REG/connect:TAG  images/connect  the Kafka Connect worker (Kafka jars pinned in its pom.xml)
  REG/backup:TAG   images/backup   the supervisor: kcb, restore.py, encfs, gocryptfs, rsnapshot

The Dockerfiles take their base images as build arguments whose defaults are the real public
images (eclipse-temurin, maven, debian). `--bases auto` (the default) uses those when a
registry answers and otherwise the local stand-ins that scripts/setup/docker.sh builds from
Debian packages (debootstrap + docker import). Pushing is yours: `docker push REG/connect:TAG`
and `docker push REG/backup:TAG`, then point the chart at them (the README says how).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping

from docker_engine import (
    LOCAL_DEBIAN,
    LOCAL_JRE,
    LOCAL_MAVEN,
    ROOT,
    DockerEngine,
    DockerError,
    build_local_bases,
    context_tar,
    start_engine,
)

DEFAULT_REGISTRY = "ghcr.io/kafka-connect-backup"  # the chart's default repositories
PUBLIC_BASES = {
    "MAVEN_IMAGE": "maven:3-eclipse-temurin-17",
    "JRE_IMAGE": "eclipse-temurin:17-jre",
    "BASE_IMAGE": "debian:bookworm-slim",
}
LOCAL_BASES = {"MAVEN_IMAGE": LOCAL_MAVEN, "JRE_IMAGE": LOCAL_JRE, "BASE_IMAGE": LOCAL_DEBIAN}
# Exactly what the supervisor image needs (the classic builder would upload all of .tools/).
BACKUP_CONTEXT = (
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "images/backup/Dockerfile",
    "images/backup/config.example.yaml",
    "images/backup/src",
    "scripts/restore.py",
)


def build_connect(engine: DockerEngine, tag: str, bases: Mapping[str, str]) -> float:
    args = {key: bases[key] for key in ("MAVEN_IMAGE", "JRE_IMAGE")}
    return engine.build(tag, context=ROOT / "images" / "connect", build_args=args)


def build_backup(engine: DockerEngine, tag: str, bases: Mapping[str, str]) -> float:
    return engine.build(
        tag,
        context_tar=context_tar(BACKUP_CONTEXT),
        dockerfile="images/backup/Dockerfile",
        build_args={"BASE_IMAGE": bases["BASE_IMAGE"]},
    )


def public_bases_pullable(engine: DockerEngine) -> bool:
    try:
        for image in PUBLIC_BASES.values():
            engine.docker("pull", "-q", image, timeout=300)
    except DockerError:
        return False
    return True


def chart_app_version() -> str:
    chart = (ROOT / "charts" / "kafka-connect-backup" / "Chart.yaml").read_text()
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?', chart, re.M)
    if match is None:
        raise SystemExit("charts/kafka-connect-backup/Chart.yaml has no appVersion")
    return match.group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help="image repository prefix")
    parser.add_argument("--tag", default=chart_app_version(), help="default: the appVersion")
    parser.add_argument("--bases", choices=["auto", "public", "local"], default="auto")
    args = parser.parse_args(argv)
    registry = args.registry.rstrip("/")
    connect, backup = f"{registry}/connect:{args.tag}", f"{registry}/backup:{args.tag}"
    try:
        engine = start_engine()
        try:
            use_public = args.bases == "public" or (
                args.bases == "auto" and public_bases_pullable(engine)
            )
            if args.bases == "public" and not public_bases_pullable(engine):
                print("error: cannot pull the public base images", file=sys.stderr)
                return 1
            if use_public:
                bases = PUBLIC_BASES
            else:
                print("no registry answers: building on the local stand-in bases", file=sys.stderr)
                build_local_bases(engine)
                bases = LOCAL_BASES
            seconds = build_connect(engine, connect, bases) + build_backup(engine, backup, bases)
        finally:
            engine.stop()
    except DockerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built in {seconds:.0f}s on the {'public' if use_public else 'local'} bases:")
    print(f"  {connect}\n  {backup}")
    print(
        "push them (docker push ...) and install with:\n"
        f"  --set image.connect.repository={registry}/connect,image.connect.tag={args.tag}"
        f",image.supervisor.repository={registry}/backup,image.supervisor.tag={args.tag}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
