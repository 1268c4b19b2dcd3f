"""The runbook's steps, in order; runbook.py runs them. Each reads the checked restore settings
(runbook options included), records what it did in the journal and says it on stdout:

  1. stop-connectors    PUT /connectors/{n}/stop for every connector consuming the topic
  2. move-files         move the topic's current sink files into a snapshot directory
  3. recreate-topic     delete and recreate the topic (same partitions, replication and
                        topic-level configs as before unless given) through the Admin API
  4. replay             send the selected records (by default from the moved files)
  5. reset-offsets      reset consumer group connect-{topic}-{sinkName} to the earliest offsets,
                        so Connect rewrites the sink file from the restored topic
  6. resume-connectors  delete and create each again (connect/rest.py recreate)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from confluent_kafka import KafkaException

from kafka_connect_backup.connect.hold import release_holds
from kafka_connect_backup.connect.rest import ConnectClient, ConnectorStatus
from kafka_connect_backup.core.durable import fsync_dir
from kafka_connect_backup.core.exit_codes import RestoreError
from kafka_connect_backup.core.units import compact_stamp, counted
from kafka_connect_backup.kafka.admin import KafkaAdmin, KafkaCheckError, TopicInfo
from kafka_connect_backup.kafka.topic_metadata import TopicMetadata
from kafka_connect_backup.layout.sinkfiles import (
    METADATA_SUFFIX,
    connector_name,
    consumer_group,
    parse_sink_file,
)
from kafka_connect_backup.restore.pipeline import (
    Progress,
    describe_plan,
    group_mapping,
    make_plan,
    resolve_sources,
    send,
    source_metadata,
)
from kafka_connect_backup.restore.plan import Plan
from kafka_connect_backup.restore.runbook.journal import Journal
from kafka_connect_backup.restore.sources import SourceFile, inspect, order
from kafka_connect_backup.restore.step_names import STEP_NAMES
from kafka_connect_backup.restore.validate import InvalidInput, Settings

WAIT_SECONDS = 60.0


class RunbookError(RestoreError):
    """A step failed; the journal keeps what is done, so re-running the command continues."""


def no_fault(point: str) -> None:
    """The default Fault: tests pass one that raises at a named point to prove re-runs safe."""


# Called at named points of the steps (before-{step}, after-delete, after-replay-send).
Fault = Callable[[str], None]


@dataclass
class Context:
    settings: Settings  # every option of the command, checked (validate.py)
    journal: Journal
    out: TextIO
    progress: Progress
    json_out: TextIO  # where --summary-json - writes
    connect: ConnectClient | None = None
    admin: KafkaAdmin | None = None
    fault: Fault = field(default=no_fault)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # The driver opens the clients for every selected step that needs them.
    @property
    def rest(self) -> ConnectClient:
        if self.connect is None:
            raise RunbookError("internal error: a Connect step ran without a Connect client")
        return self.connect

    @property
    def kafka(self) -> KafkaAdmin:
        if self.admin is None:
            raise RunbookError("internal error: a Kafka step ran without an Admin client")
        return self.admin

    @property
    def topic(self) -> str:
        return self.settings.topic

    @property
    def own_connector(self) -> str:
        return connector_name(self.topic, self.settings.sink_name)


# -- connectors ---------------------------------------------------------------------------


def topic_connectors(client: ConnectClient, topic: str) -> list[str]:
    """Connectors whose `topics` list names the topic."""
    found = []
    for name in client.connectors():
        config = client.config(name) or {}
        topics = {t.strip() for t in config.get("topics", "").split(",")}
        if topic in topics:
            found.append(name)
    return found


def known_connectors(ctx: Context) -> list[str]:
    names = list(ctx.journal.get("connectors", []))
    if ctx.connect is not None:
        names += [n for n in topic_connectors(ctx.connect, ctx.topic) if n not in names]
    return names


def step_stop_connectors(ctx: Context) -> dict[str, object]:
    names = known_connectors(ctx)
    ctx.journal.set("connectors", names)
    if not names:
        ctx.say(f"    no connector consumes {ctx.topic}")
    for name in names:
        if not ctx.rest.stop(name):
            ctx.say(f"    {name}: not present in Connect (nothing to stop)")
            continue
        status = ctx.rest.wait_for(name, lambda s: s is None or s.stopped, timeout=WAIT_SECONDS)
        if status is not None and not status.stopped:
            raise RunbookError(
                f"connector {name} did not stop within {WAIT_SECONDS:.0f}s "
                f"(state {status.state}, tasks {list(status.tasks)}): check the connect log"
            )
        ctx.say(f"    {name}: stopped (tasks gone, file closed, offsets committed)")
    return {"connectors": names}


def _require_stopped(ctx: Context) -> None:
    for name in known_connectors(ctx):
        status: ConnectorStatus | None = ctx.rest.status(name)
        if status is not None and not status.stopped:
            raise RunbookError(
                f"connector {name} is {status.state}: it would keep writing the sink file; "
                "run the stop-connectors step first"
            )


def step_resume_connectors(ctx: Context) -> dict[str, object]:
    names = list(ctx.journal.get("connectors", [])) or [ctx.own_connector]
    resumed = []
    for name in names:
        if ctx.rest.status(name) is None:
            ctx.say(
                f"    {name}: not present in Connect (a restarted worker forgets connectors; "
                "the supervisor recreates it on its next reconcile)"
            )
            continue
        ctx.rest.recreate(name)
        status = ctx.rest.wait_for(
            name, lambda s: s is not None and s.running, timeout=WAIT_SECONDS
        )
        if status is None or not status.running:
            state = status.state if status else "missing"
            raise RunbookError(
                f"connector {name} did not resume within {WAIT_SECONDS:.0f}s "
                f"(state {state}): check the connect log"
            )
        resumed.append(name)
        ctx.say(f"    {name}: running")
    # Resumed: the supervisor may manage them again.
    release_holds(ctx.settings.sink_path, {*names, ctx.own_connector})
    return {"resumed": resumed}


# -- files --------------------------------------------------------------------------------


def current_sink_files(ctx: Context) -> list[SourceFile]:
    """The topic's sink files directly in sinkPath (.sink and .sink-{epoch}.gz)."""
    sink_path = ctx.settings.sink_path
    if not sink_path.is_dir():
        return []
    found = []
    for path in sink_path.iterdir():
        name = parse_sink_file(path)
        if name is not None and path.is_file() and name.stem == ctx.own_connector:
            found.append(inspect(path))
    return order(found)


def step_move_files(ctx: Context) -> dict[str, object]:
    _require_stopped(ctx)
    snapshot = ctx.journal.get("snapshot_dir")
    if snapshot is None:
        stamp = compact_stamp()
        snapshot = str(ctx.settings.sink_path / f"snapshot-{ctx.topic}-{stamp}")
        ctx.journal.set("snapshot_dir", snapshot)
    directory = Path(snapshot)
    files = current_sink_files(ctx)
    first_move = ctx.journal.get("moved_files") is None
    if not first_move and files:
        # Written between a failed run and this one: kept aside, not replayed.
        directory = directory / f"late-{compact_stamp()}"
    directory.mkdir(parents=True, exist_ok=True)
    moved = []
    for source in files:
        target = directory / source.path.name
        if target.exists():
            raise RunbookError(f"{target} already exists: refusing to overwrite it")
        source.path.rename(target)  # same filesystem: atomic, nothing copied or deleted
        moved.append(str(target))
        ctx.say(f"    {source.path.name} -> {directory}/")
    metadata = ctx.settings.sink_path / f"{ctx.own_connector}{METADATA_SUFFIX}"
    if first_move and metadata.is_file() and not (directory / metadata.name).exists():
        # Beside the moved files, so the replay finds the saved partitions and groups.
        metadata.rename(directory / metadata.name)
        ctx.say(f"    {metadata.name} -> {directory}/")
    fsync_dir(directory)
    fsync_dir(ctx.settings.sink_path)
    if first_move:
        ctx.journal.set("moved_files", moved)
    if not files:
        ctx.say(f"    no sink file of {ctx.own_connector} in {ctx.settings.sink_path}")
    else:
        ctx.say(set_aside_note(ctx.settings, directory))
    return {"moved": moved, "snapshot_dir": str(directory)}


def set_aside_note(settings: Settings, directory: Path) -> str:
    """Where the moved files are, and that the backup does not keep them: rsnapshot copies only
    `*.sink` / `*.gz` directly in sinkPath (the original's include/exclude), never a
    subdirectory, so the only lasting copy of the records before the restore's from-time
    (which the recreated topic does not get back) is this directory."""
    config = settings.config
    if config is not None and config.backup.enabled:
        retention = config.backup.retention
        kept = (
            f"the existing snapshots still hold them, but they drop out of the backup once "
            f"{retention} more backup cycles have run (backup.retention {retention}, one cycle "
            f"every {config.restart_timeout})"
        )
    else:
        kept = "no backup is configured here"
    return (
        f"    NOTE: the sink files of {settings.topic} as they were before this restore are in "
        f"{directory}/ on the data volume, OUTSIDE the encrypted backup (it copies only *.sink, "
        f"*.gz and *.topic.json directly in {settings.sink_path}, never a subdirectory): {kept}. "
        "They hold every record the sink had written, including those outside the replayed window "
        f"({settings.window.describe()}) that the recreated topic does not get back: copy that "
        "directory somewhere safe if you need them, delete it when you don't."
    )


def replay_sources(ctx: Context) -> list[SourceFile]:
    """Explicit files or --snapshot when given, else the files the move step set aside."""

    if ctx.settings.patterns or ctx.settings.snapshot:
        return resolve_sources(ctx.settings, ctx.progress.stream)
    moved = ctx.journal.get("moved_files")
    if moved is None:
        raise InvalidInput(
            "replay has no source: give restore_files or --snapshot, or run the move-files "
            "step first (the runbook replays the files it moved)"
        )
    return order([inspect(Path(path)) for path in moved])


# -- topic --------------------------------------------------------------------------------


def saved_metadata(ctx: Context) -> TopicMetadata | None:
    """The topic metadata file beside the replay's sources (envelope files only)."""
    if ctx.settings.patterns or ctx.settings.snapshot or ctx.journal.get("moved_files"):
        sources = replay_sources(ctx)
    else:
        sources = current_sink_files(ctx)
    found = source_metadata(sources)
    return found[1] if found else None


def target_info(ctx: Context) -> TopicInfo | None:
    """The recreated topic's shape: as the journal saved it, else as the topic is now, else as
    the topic metadata file beside the envelope files saved it; --partitions and
    --replication-factor override."""
    saved = ctx.journal.get("topic_info")
    info = TopicInfo(**saved) if saved else None
    if info is None and ctx.admin is not None:
        info = ctx.admin.describe(ctx.topic)
    if info is None:
        metadata = saved_metadata(ctx)
        if metadata is not None:
            info = TopicInfo(
                ctx.topic, metadata.partitions, metadata.replication_factor, metadata.configs
            )
    partitions = ctx.settings.partitions
    replication = ctx.settings.replication_factor
    if info is None:
        if partitions is None:
            return None
        return TopicInfo(ctx.topic, partitions, replication or 1)
    return TopicInfo(
        ctx.topic,
        partitions or info.partitions,
        replication or info.replication_factor,
        ctx.settings.topic_configs(info.configs),
    )


def step_recreate_topic(ctx: Context) -> dict[str, object]:
    info = target_info(ctx)
    if info is None:
        raise KafkaCheckError(
            f"topic {ctx.topic} does not exist and its partition count is unknown: "
            "give --partitions (and --replication-factor)"
        )
    # Saved before the deletion: a re-run after a failure in between still knows the shape.
    ctx.journal.set("topic_info", info.__dict__)
    if ctx.kafka.describe(ctx.topic) is not None:
        ctx.say(f"    deleting topic {ctx.topic}")
        ctx.kafka.delete(ctx.topic)
    ctx.fault("after-delete")
    ctx.say(
        f"    creating topic {ctx.topic}: {counted(info.partitions, 'partition')}, replication "
        f"factor {info.replication_factor}" + (f", configs {info.configs}" if info.configs else "")
    )
    ctx.kafka.create(info)
    return {"partitions": info.partitions, "replication_factor": info.replication_factor}


def step_replay(ctx: Context) -> dict[str, object]:

    progress = ctx.progress
    info = ctx.kafka.describe(ctx.topic, configs=False)
    plan: Plan = make_plan(
        ctx.settings,
        replay_sources(ctx),
        progress,
        target_partitions=info.partitions if info else None,
    )
    ctx.say(f"    {plan.matched} records to send from {len(plan.files)} files")
    if not ctx.settings.whole:  # a single step: show what it sends (the runbook showed it first)
        describe_plan(ctx.settings, plan, ctx.out, dry_run=False)
    summary = send(ctx.settings, plan, progress)
    ctx.fault("after-replay-send")
    for line in summary.render().splitlines():
        ctx.say(f"    {line}")
    if ctx.settings.summary_json is not None:
        summary.target = ctx.journal.get("target")  # as the topic was before the restore
        summary.write_json(ctx.settings.summary_json, ctx.json_out)
    if summary.interrupted:
        # The journal keeps the replay unfinished: a re-run recreates the topic first.
        raise KeyboardInterrupt
    if not summary.ok:
        raise RunbookError(f"{summary.failed} records failed delivery: {dict(summary.errors)}")
    exact = plan.exact
    if ctx.settings.restore_groups and exact is not None:
        # Every record delivered, in its planned place: the mappings hold; kept for the
        # reset-offsets step (a re-run after a failure in between reads them from here).
        starts, replay_starts = summary.starts, None
        if exact.after_values:
            # The envelope records were sent last: each partition's end less their count.
            if summary.ends is None:
                raise RunbookError(
                    "--restore-groups: Kafka did not give the topic's end offsets after the "
                    "send, so where the envelope records start after the value records is "
                    "unknown; no group was changed (set them by hand, or re-run the restore)"
                )
            starts = [end - exact.counts[p] for p, end in enumerate(summary.ends)]
            replay_starts = summary.starts
        ctx.journal.set(
            "group_positions",
            {
                group: {
                    "mapping": group_mapping(exact, group, starts, replay_starts),
                    "offsets": {
                        str(p): o for p, o in exact.positions(group, starts, replay_starts).items()
                    },
                }
                for group in sorted(exact.groups)
            },
        )
    return {"delivered": summary.delivered, "matched": plan.matched}


def busy_groups(admin: KafkaAdmin, groups: list[str]) -> str | None:
    """Why the groups cannot be changed now (some have members), or None. As
    kafka-consumer-groups --reset-offsets: a group's offsets are changed only while it is
    inactive, else its consumers commit over the change or read the records again."""
    busy = admin.active_members(groups)
    if not busy:
        return None
    shown = "; ".join(
        f"consumer group {group} has {counted(len(members), 'active member')} (client ids: "
        f"{', '.join(members)})"
        for group, members in sorted(busy.items())
    )
    return (
        f"{shown}: its offsets can only be reset or restored while it is inactive (its "
        "consumers would commit over the change, or read the restored records again); stop "
        "its consumers first"
    )


def groups_to_change(ctx: Context, restored: list[str], *, stopping: bool) -> list[str]:
    """The groups the reset-offsets step sets: the sink's, the --reset-group ones and the
    restored ones; less, when the stop-connectors step runs first, the stopped connectors'."""
    sink_group = consumer_group(ctx.topic, ctx.settings.sink_name)
    groups = {sink_group, *ctx.settings.reset_groups, *restored}
    if stopping:
        groups -= {f"connect-{name}" for name in (*known_connectors(ctx), ctx.own_connector)}
    return sorted(groups)


def step_reset_offsets(ctx: Context) -> dict[str, object]:
    info = ctx.kafka.describe(ctx.topic)
    if info is None:
        raise KafkaCheckError(f"topic {ctx.topic} does not exist: nothing to reset to")
    sink_group = consumer_group(ctx.topic, ctx.settings.sink_name)
    groups = [sink_group, *(g for g in ctx.settings.reset_groups if g != sink_group)]
    restored = list(ctx.journal.get("group_positions") or {}) if ctx.settings.restore_groups else []
    busy = busy_groups(ctx.kafka, groups_to_change(ctx, restored, stopping=False))
    if busy is not None:
        raise RunbookError(f"{busy}, then re-run the same command; no group was changed")
    for group in groups:
        who = "are the connectors stopped?" if group == sink_group else "stop its consumers"
        try:
            offsets = ctx.kafka.reset_group(group, ctx.topic, info.partitions)
        except KafkaException as exc:
            raise RunbookError(
                f"cannot reset consumer group {group}: {exc} (it must have no active member: {who})"
            ) from exc
        shown = ", ".join(f"{tp.partition}:{tp.offset}" for tp in offsets)
        ctx.say(f"    group {group}: {ctx.topic} partitions -> earliest ({shown})")
    restored = _restore_groups(ctx, set(groups)) if ctx.settings.restore_groups else []
    return {"group": sink_group, "groups": groups, "restored_groups": restored}


def _restore_groups(ctx: Context, reset: set[str]) -> list[str]:
    """--restore-groups: each saved group at the restored position of its saved offset, as the
    replay step mapped it (a group also named by --reset-group was set to the start)."""
    positions = ctx.journal.get("group_positions")
    if positions is None:
        raise RunbookError(
            "--restore-groups: the replay step recorded no group positions (run the replay "
            "step with --restore-groups first)"
        )
    done = []
    for group, entry in sorted(positions.items()):
        if group in reset:
            ctx.say(f"    group {group}: set to the start (--reset-group), not to its mapping")
            continue
        offsets = {int(p): int(o) for p, o in entry["offsets"].items()}
        ctx.say(f"    group {group}: {entry['mapping']}")
        try:
            ctx.kafka.set_group_offsets(group, ctx.topic, offsets)
        except KafkaException as exc:
            raise RunbookError(
                f"cannot set consumer group {group}: {exc} (it must have no active member: "
                "stop its consumers)"
            ) from exc
        done.append(group)
    return done


@dataclass(frozen=True)
class Step:
    name: str
    title: str  # formatted with the topic and the consumer group
    run: Callable[[Context], dict[str, object]]


STEPS = (
    Step(
        "stop-connectors",
        "stop the connectors of {topic} (Connect REST PUT /connectors/{{n}}/stop)",
        step_stop_connectors,
    ),
    Step(
        "move-files",
        "move the current sink files of {topic} into a snapshot directory",
        step_move_files,
    ),
    Step("recreate-topic", "delete and recreate topic {topic} (Admin API)", step_recreate_topic),
    Step("replay", "replay the selected records into {topic}", step_replay),
    Step(
        "reset-offsets",
        "reset consumer group {group}{named} to the earliest offsets",
        step_reset_offsets,
    ),
    Step("resume-connectors", "resume the connectors of {topic}", step_resume_connectors),
)
if tuple(step.name for step in STEPS) != STEP_NAMES:  # step_names.py names them for the CLI
    raise RuntimeError("restore/step_names.py does not list the runbook's steps in order")
# The steps that talk to Connect, and those that talk to Kafka.
CONNECT_STEPS = frozenset({"stop-connectors", "move-files", "resume-connectors"})
KAFKA_STEPS = frozenset({"recreate-topic", "replay", "reset-offsets"})


def title(step: Step, settings: Settings) -> str:
    named = "".join(f", {g}" for g in settings.reset_groups)
    return step.title.format(
        topic=settings.topic,
        group=consumer_group(settings.topic, settings.sink_name),
        named=f" (and{named[1:]})" if named else "",
    )
