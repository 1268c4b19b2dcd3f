"""The target topic as it is now, and what a restore does to it: the records it holds, the
consumer groups positioned on it, and the records that will no longer be in it.

Read before anything is sent, so the plan can say what will change and the restore can refuse
what would silently duplicate (a topic that already holds records) or lose (other groups'
positions, records outside the window) without being told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka_connect_backup.core.units import counted
from kafka_connect_backup.kafka.admin import KafkaAdmin
from kafka_connect_backup.kafka.timefilter import Verdict
from kafka_connect_backup.restore.plan import Plan

# What a step does to a consumer group, by kind.
KEEPS = "keeps its position (reads the restored records after it)"
RESET_BY_SINK = "reset to the start of the restored topic (Connect rewrites the sink file)"
RESET_NAMED = "reset to the start of the restored topic after the replay (--reset-group)"
RESTORED = (
    "put back at the restored position of its saved offset after the replay (--restore-groups; "
    "mapping above)"
)
LOSES = (
    "LOSES ITS POSITION: the recreated topic's offsets start again at 0, so the group resumes "
    "from its auto.offset.reset; name it with --reset-group to set it to the start instead"
)


@dataclass(frozen=True)
class TargetState:
    topic: str
    partitions: int  # 0: the topic does not exist
    start: tuple[int, ...]  # earliest offset per partition
    end: tuple[int, ...]  # end offset per partition
    groups: dict[str, dict[int, int]]  # group -> partition -> committed offset

    @property
    def records(self) -> int:
        return sum(e - s for s, e in zip(self.start, self.end, strict=True))

    def describe(self) -> str:
        if not self.partitions:
            return f"topic {self.topic} does not exist yet"
        ends = ", ".join(
            f"{p}:{s}..{e}" for p, (s, e) in enumerate(zip(self.start, self.end, strict=True))
        )
        return (
            f"topic {self.topic} now: {counted(self.partitions, 'partition')}, "
            f"{counted(self.records, 'record')} (offsets {ends})"
        )


def read_target(admin: KafkaAdmin, topic: str) -> TargetState:
    info = admin.describe(topic, configs=False)
    if info is None:
        return TargetState(topic, 0, (), (), {})
    start = tuple(tp.offset for tp in admin.earliest_offsets(topic, info.partitions))
    end = tuple(tp.offset for tp in admin.latest_offsets(topic, info.partitions))
    return TargetState(topic, info.partitions, start, end, admin.committed_on(topic))


@dataclass(frozen=True)
class GroupOutcome:
    group: str
    committed: dict[int, int]
    action: str

    @property
    def loses_position(self) -> bool:
        return self.action == LOSES


@dataclass
class Consequences:
    """What the restore changes, for the plan, the prompt and --summary-json."""

    target: TargetState
    recreate: bool  # the runbook deletes and recreates the topic
    sink_group: str  # the sink connector's own group (the runbook resets it)
    reset_groups: tuple[str, ...] = ()
    restored_groups: tuple[str, ...] = ()  # --restore-groups: the saved groups it maps
    sends: int = 0  # records the replay sends
    before_from: int = 0  # records of the sources outside the window, not replayed
    after_to: int = 0
    copy: str = ""  # where the records that leave the topic stay
    append: bool = False  # --append was given
    outcomes: list[GroupOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        for group, committed in sorted(self.target.groups.items()):
            if not self.recreate:
                action = KEEPS
            elif group == self.sink_group:
                action = RESET_BY_SINK
            elif group in self.reset_groups:
                action = RESET_NAMED
            elif group in self.restored_groups:
                action = RESTORED
            else:
                action = LOSES
            self.outcomes.append(GroupOutcome(group, committed, action))

    @property
    def dropped(self) -> int:
        """Records that are in the topic now and will not be after the restore."""
        return max(0, self.target.records - self.sends) if self.recreate else 0

    @property
    def destructive(self) -> bool:
        """Deletes records or moves another group's position: --yes alone is not enough."""
        return self.recreate and (
            self.target.records > 0 or any(o.loses_position for o in self.outcomes)
        )

    def warning(self) -> str | None:
        """What --yes alone must not confirm, or None."""
        if not self.destructive:
            return None
        lost = [o.group for o in self.outcomes if o.loses_position]
        parts = [f"this deletes topic {self.target.topic} with its {self.target.records} records"]
        if lost:
            parts.append(
                f"{counted(len(lost), 'consumer group')} lose their position ({', '.join(lost)})"
            )
        return " and ".join(parts)

    def lines(self) -> list[str]:
        out = [self.target.describe()]
        if self.recreate and self.target.partitions:
            out.append(
                f"the runbook deletes topic {self.target.topic} with its "
                f"{counted(self.target.records, 'record')}, recreates it and replays "
                f"{counted(self.sends, 'record')}"
            )
        elif self.target.records:
            given = " (--append)" if self.append else ""
            out.append(f"the restore appends {counted(self.sends, 'record')} to them{given}")
        if self.before_from or self.after_to:
            out.append(
                f"not replayed: {self.before_from} before the from time, {self.after_to} at or "
                f"after --to; {self.copy}"
            )
        if not self.outcomes:
            out.append(f"consumer groups on {self.target.topic}: none")
        else:
            out.append(f"consumer groups on {self.target.topic}:")
            for outcome in self.outcomes:
                committed = sum(outcome.committed.values())
                out.append(f"  {outcome.group} (committed {committed}): {outcome.action}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.target.topic,
            "partitions": self.target.partitions,
            "records_now": self.target.records,
            "end_offsets": list(self.target.end),
            "recreate": self.recreate,
            "records_dropped": self.dropped,
            "not_replayed": {"before_from": self.before_from, "at_or_after_to": self.after_to},
            "copy_of_dropped_records": self.copy or None,
            "groups": [
                {
                    "group": o.group,
                    "committed": {str(p): c for p, c in sorted(o.committed.items())},
                    "action": o.action,
                    "loses_position": o.loses_position,
                }
                for o in self.outcomes
            ],
        }


def consequences(
    target: TargetState,
    plan: Plan | None,
    *,
    recreate: bool,
    sink_group: str,
    reset_groups: tuple[str, ...] = (),
    copy: str = "",
    restored_groups: tuple[str, ...] = (),
    append: bool = False,
) -> Consequences:
    skipped = plan.skipped if plan is not None else {}
    return Consequences(
        target,
        recreate,
        sink_group,
        reset_groups,
        restored_groups,
        sends=plan.matched if plan is not None else 0,
        before_from=skipped.get(Verdict.BEFORE_FROM.value, 0),
        after_to=skipped.get(Verdict.AT_OR_AFTER_TO.value, 0),
        copy=copy,
        append=append,
    )
