"""The Kafka ACLs the product needs, in one place: the chart README's table, `kcb acls`, and the
tests that prove the lists sufficient and each entry necessary all read them from here.

Kafka implies Describe from Read, Write and Delete (and DescribeConfigs from AlterConfigs), so
the lists name only what is not implied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kafka_connect_backup.layout.sinkfiles import consumer_group

DRILL_PREFIX = "kcb-drill-"  # inspect/drill.py's scratch topics and their readers' groups


@dataclass(frozen=True)
class Acl:
    resource: Literal["topic", "group", "cluster"]
    name: str
    operation: str  # as kafka-acls spells it: Read, Write, Create, Delete, DescribeConfigs, ...
    why: str = field(compare=False)  # the same ACL needed twice is one ACL
    prefixed: bool = False

    def command(self, principal: str, bootstrap: str = "<bootstrap>") -> str:
        """The kafka-acls line that grants it."""
        pattern = " --resource-pattern-type prefixed" if self.prefixed else ""
        target = "--cluster" if self.resource == "cluster" else f"--{self.resource} {self.name}"
        return (
            f"kafka-acls --bootstrap-server {bootstrap} --command-config admin.properties "
            f"--add --allow-principal {principal} --operation {self.operation} {target}{pattern}"
        )


def backup_acls(topics: Iterable[str], sink_name: str, *, drills: bool = True) -> list[Acl]:
    """What the release's principal needs to back the topics up: Connect's sinks and the
    supervisor's reads at each stop (and drills' scratch topics)."""
    acls: list[Acl] = []
    for topic in topics:
        group = consumer_group(topic, sink_name)
        acls += [
            Acl(
                "topic",
                topic,
                "Read",
                "Connect's sink fetches the records; the supervisor "
                "reads the partitions, offsets and lag",
            ),
            Acl(
                "topic",
                topic,
                "DescribeConfigs",
                "the supervisor records the topic's configs "
                "in its metadata file (a runbook re-creates the topic with them)",
            ),
            Acl(
                "group",
                group,
                "Read",
                "the sink's consumer group: Connect joins it and "
                "commits; the supervisor reads its offsets",
            ),
        ]
    if drills:
        acls += [
            Acl(
                "topic",
                DRILL_PREFIX,
                op,
                "restore drills (kcb drill, backup.drill): a "
                "scratch topic made, written, read back and deleted",
                prefixed=True,
            )
            for op in ("Create", "Write", "Read", "Delete")
        ]
    return acls


def restore_acls(
    topic: str, sink_name: str, *, runbook: bool = True, groups: Iterable[str] = ()
) -> list[Acl]:
    """What restore.py's principal needs: the replay; with `runbook`, the topic's re-creation
    and the offsets reset of the sink group and of `groups` (--reset-group, --restore-groups)."""
    acls = [Acl("topic", topic, "Write", "the replay")]
    if not runbook:
        return acls
    acls += [
        Acl("topic", topic, "Delete", "recreate-topic deletes the topic"),
        Acl(
            "topic",
            topic,
            "Create",
            "recreate-topic creates it again (or Create on the "
            "cluster; also restore.py --create-topic)",
        ),
        Acl("topic", topic, "DescribeConfigs", "recreate-topic carries the topic's configs over"),
        Acl("topic", topic, "Read", "reset-offsets commits offsets on the topic"),
    ]
    for group in dict.fromkeys([consumer_group(topic, sink_name), *groups]):
        acls.append(Acl("group", group, "Read", "reset-offsets moves the group"))
    return acls
