"""The seed README's restore runbook as one command, each step also available alone:

  1. stop-connectors    PUT /connectors/{n}/stop for every connector consuming the topic
  2. move-files         move the topic's current sink files into a snapshot directory
  3. recreate-topic     delete and recreate the topic (same partitions, replication and
                        topic-level configs as before unless given) through the Admin API
  4. replay             send the selected records (by default from the moved files)
  5. reset-offsets      reset consumer group connect-{topic}-{sinkName} to the earliest offsets,
                        so Connect rewrites the sink file from the restored topic
  6. resume-connectors  PUT /connectors/{n}/resume

Each step is printed before it runs and recorded in a journal ({stateDir}/restore-{topic}.json).
A re-run of the same command after a failure skips the finished steps, re-asserts that the
connectors are stopped, and, if a replay was cut short, recreates the topic again first so no
record is sent twice. While it runs, the connectors are held (connect/hold.py) so the
supervisor's reconciler leaves them stopped.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from confluent_kafka import KafkaException

from kafka_connect_backup.connect.hold import hold_connectors
from kafka_connect_backup.connect.rest import ConnectClient, ConnectError, ConnectorStatus
from kafka_connect_backup.durable import fsync_dir
from kafka_connect_backup.restore import validate
from kafka_connect_backup.restore.confirm import confirm
from kafka_connect_backup.restore.errors import EXIT_FAILED, EXIT_OK, RestoreError
from kafka_connect_backup.restore.journal import DONE, STARTED, Journal
from kafka_connect_backup.restore.kafkaops import KafkaAdmin, KafkaCheckError, TopicInfo
from kafka_connect_backup.restore.pipeline import (
    Progress,
    describe_plan,
    make_plan,
    resolve_sources,
    send,
    snapshot_settings,
)
from kafka_connect_backup.restore.plan import Plan
from kafka_connect_backup.restore.sources import SourceFile, inspect, order
from kafka_connect_backup.restore.steps import STEPS
from kafka_connect_backup.restore.validate import InvalidInput, Settings
from kafka_connect_backup.sinkfiles import connector_name, consumer_group, parse_sink_file

_CONNECT_STEPS = {"stop-connectors", "move-files", "resume-connectors"}
_KAFKA_STEPS = {"recreate-topic", "replay", "reset-offsets"}
WAIT_SECONDS = 60.0


class RunbookError(RestoreError):
    """A step failed; the journal keeps what is done, so re-running the command continues."""


@dataclass
class Context:
    settings: Settings
    args: argparse.Namespace
    journal: Journal
    out: TextIO
    err: TextIO
    progress: object
    connect: ConnectClient | None = None
    admin: KafkaAdmin | None = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

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


def _known_connectors(ctx: Context) -> list[str]:
    names = list(ctx.journal.get("connectors", []))
    if ctx.connect is not None:
        names += [n for n in topic_connectors(ctx.connect, ctx.topic) if n not in names]
    return names


def step_stop_connectors(ctx: Context) -> dict[str, object]:
    assert ctx.connect is not None
    names = _known_connectors(ctx)
    ctx.journal.set("connectors", names)
    if not names:
        ctx.say(f"    no connector consumes {ctx.topic}")
    for name in names:
        if not ctx.connect.stop(name):
            ctx.say(f"    {name}: not present in Connect (nothing to stop)")
            continue
        status = ctx.connect.wait_for(name, lambda s: s is None or s.stopped, timeout=WAIT_SECONDS)
        if status is not None and not status.stopped:
            raise RunbookError(
                f"connector {name} did not stop within {WAIT_SECONDS:.0f}s "
                f"(state {status.state}, tasks {list(status.tasks)}): check the connect log"
            )
        ctx.say(f"    {name}: stopped (tasks gone, file closed, offsets committed)")
    return {"connectors": names}


def _require_stopped(ctx: Context) -> None:
    assert ctx.connect is not None
    for name in _known_connectors(ctx):
        status: ConnectorStatus | None = ctx.connect.status(name)
        if status is not None and not status.stopped:
            raise RunbookError(
                f"connector {name} is {status.state}: it would keep writing the sink file; "
                "run the stop-connectors step first"
            )


def step_resume_connectors(ctx: Context) -> dict[str, object]:
    assert ctx.connect is not None
    names = list(ctx.journal.get("connectors", [])) or [ctx.own_connector]
    resumed = []
    for name in names:
        if ctx.connect.status(name) is None:
            ctx.say(
                f"    {name}: not present in Connect (a restarted worker forgets connectors; "
                "the supervisor recreates it on its next reconcile)"
            )
            continue
        ctx.connect.resume(name)
        status = ctx.connect.wait_for(
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
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        snapshot = str(ctx.settings.sink_path / f"snapshot-{ctx.topic}-{stamp}")
        ctx.journal.set("snapshot_dir", snapshot)
    directory = Path(snapshot)
    files = current_sink_files(ctx)
    first_move = ctx.journal.get("moved_files") is None
    if not first_move and files:
        # Written between a failed run and this one: kept aside, not replayed.
        directory = directory / f"late-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    directory.mkdir(parents=True, exist_ok=True)
    moved = []
    for source in files:
        target = directory / source.path.name
        if target.exists():
            raise RunbookError(f"{target} already exists: refusing to overwrite it")
        os.rename(source.path, target)  # same filesystem: atomic, nothing copied or deleted
        moved.append(str(target))
        ctx.say(f"    {source.path.name} -> {directory}/")
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
        f"{directory}/ on the data volume, OUTSIDE the encrypted backup (it copies only *.sink "
        f"and *.gz directly in {settings.sink_path}, never a subdirectory): {kept}. They hold "
        "every record the sink had written, including those outside the replayed window "
        f"({settings.window.describe()}) that the recreated topic does not get back: copy that "
        "directory somewhere safe if you need them, delete it when you don't."
    )


def replay_sources(ctx: Context) -> list[SourceFile]:
    """Explicit files or --snapshot when given, else the files the move step set aside."""

    if ctx.settings.patterns or ctx.settings.snapshot:
        return resolve_sources(ctx.settings)
    moved = ctx.journal.get("moved_files")
    if moved is None:
        raise InvalidInput(
            "replay has no source: give restore_files or --snapshot, or run the move-files "
            "step first (the runbook replays the files it moved)"
        )
    return order([inspect(Path(path)) for path in moved])


# -- topic --------------------------------------------------------------------------------


def _target_info(ctx: Context) -> TopicInfo | None:
    saved = ctx.journal.get("topic_info")
    info = TopicInfo(**saved) if saved else None
    if info is None and ctx.admin is not None:
        info = ctx.admin.describe(ctx.topic)
    partitions = ctx.args.partitions
    replication = ctx.args.replication_factor
    if info is None:
        if partitions is None:
            return None
        return TopicInfo(ctx.topic, partitions, replication or 1)
    return TopicInfo(
        ctx.topic,
        partitions or info.partitions,
        replication or info.replication_factor,
        info.configs,
    )


def step_recreate_topic(ctx: Context) -> dict[str, object]:
    assert ctx.admin is not None
    info = _target_info(ctx)
    if info is None:
        raise KafkaCheckError(
            f"topic {ctx.topic} does not exist and its partition count is unknown: "
            "give --partitions (and --replication-factor)"
        )
    # Saved before the deletion: a re-run after a failure in between still knows the shape.
    ctx.journal.set("topic_info", info.__dict__)
    if ctx.admin.describe(ctx.topic) is not None:
        ctx.say(f"    deleting topic {ctx.topic}")
        ctx.admin.delete(ctx.topic)
    _inject_failure("after-delete")
    ctx.say(
        f"    creating topic {ctx.topic}: {info.partitions} partitions, replication factor "
        f"{info.replication_factor}" + (f", configs {info.configs}" if info.configs else "")
    )
    ctx.admin.create(info)
    return {"partitions": info.partitions, "replication_factor": info.replication_factor}


def step_replay(ctx: Context) -> dict[str, object]:

    progress = ctx.progress
    assert isinstance(progress, Progress)
    plan: Plan = make_plan(ctx.settings, replay_sources(ctx), progress)
    ctx.say(f"    {plan.matched} records to send from {len(plan.files)} files")
    if ctx.args.step:
        describe_plan(ctx.settings, plan, ctx.out, dry_run=False)
    summary = send(ctx.settings, plan, progress)
    _inject_failure("after-replay-send")
    for line in summary.render().splitlines():
        ctx.say(f"    {line}")
    if ctx.args.summary_json is not None:
        summary.write_json(ctx.args.summary_json)
    if not summary.ok:
        raise RunbookError(f"{summary.failed} records failed delivery: {dict(summary.errors)}")
    return {"delivered": summary.delivered, "matched": plan.matched}


def step_reset_offsets(ctx: Context) -> dict[str, object]:
    assert ctx.admin is not None
    info = ctx.admin.describe(ctx.topic)
    if info is None:
        raise KafkaCheckError(f"topic {ctx.topic} does not exist: nothing to reset to")
    group = consumer_group(ctx.topic, ctx.settings.sink_name)
    try:
        offsets = ctx.admin.reset_group(group, ctx.topic, info.partitions)
    except Exception as exc:
        raise RunbookError(
            f"cannot reset consumer group {group}: {exc} (it must have no active member: "
            "are the connectors stopped?)"
        ) from exc
    shown = ", ".join(f"{tp.partition}:{tp.offset}" for tp in offsets)
    ctx.say(f"    group {group}: {ctx.topic} partitions -> earliest ({shown})")
    return {"group": group}


_STEP_FUNCTIONS: dict[str, Callable[[Context], dict[str, object]]] = {
    "stop-connectors": step_stop_connectors,
    "move-files": step_move_files,
    "recreate-topic": step_recreate_topic,
    "replay": step_replay,
    "reset-offsets": step_reset_offsets,
    "resume-connectors": step_resume_connectors,
}

_TITLES = {
    "stop-connectors": "stop the connectors of {topic} (Connect REST PUT /connectors/{{n}}/stop)",
    "move-files": "move the current sink files of {topic} into a snapshot directory",
    "recreate-topic": "delete and recreate topic {topic} (Admin API)",
    "replay": "replay the selected records into {topic}",
    "reset-offsets": "reset consumer group {group} to the earliest offsets",
    "resume-connectors": "resume the connectors of {topic}",
}


def _inject_failure(point: str) -> None:
    """Tests prove re-runs are safe by failing on purpose at a named point."""
    if os.environ.get("KCB_RESTORE_FAIL_AT") == point:
        raise RunbookError(f"injected failure at {point} (KCB_RESTORE_FAIL_AT)")


# -- driver -------------------------------------------------------------------------------


def _fingerprint(settings: Settings) -> dict[str, object]:
    return {
        "topic": settings.topic,
        "window": settings.window.describe(),
        "sources": list(settings.patterns),
        "snapshot": settings.snapshot,
        "sink_name": settings.sink_name,
    }


def _selected(args: argparse.Namespace) -> list[str]:
    if args.runbook:
        return list(STEPS)
    return [step for step in STEPS if step in set(args.step)]


def _journal_path(settings: Settings, args: argparse.Namespace) -> Path:
    state_dir: Path = args.state_dir or settings.sink_path / ".kcb-restore"
    return state_dir / f"restore-{settings.topic}.json"


def _plan_preview(ctx: Context, steps: list[str]) -> None:
    """Show what the replay will send, before any step runs (validates the sources too)."""

    if "replay" not in steps:
        return
    if ctx.settings.patterns or ctx.settings.snapshot or ctx.journal.get("moved_files"):
        sources = replay_sources(ctx)
        if "move-files" in steps and not ctx.journal.done("move-files"):
            _refuse_live_sources(ctx, sources)
        note = ""
    else:
        sources = current_sink_files(ctx)
        note = " (the current sink files, counted now: the replay recounts them once moved)"
        if not sources:
            raise InvalidInput(
                f"no sink file of {ctx.own_connector} in {ctx.settings.sink_path} to replay: "
                "give restore_files or --snapshot"
            )
    assert isinstance(ctx.progress, Progress)
    plan = make_plan(ctx.settings, sources, ctx.progress)
    ctx.say(f"replay source{note}:")
    describe_plan(ctx.settings, plan, ctx.out, dry_run=ctx.args.dry_run)


def _refuse_live_sources(ctx: Context, sources: list[SourceFile]) -> None:
    """restore_files naming the live sink files would be gone by the replay (the move-files
    step moves them aside first) after the topic was already deleted: refuse up front."""
    live = {os.path.realpath(f.path) for f in current_sink_files(ctx)}
    named = sorted(f.path.name for f in sources if os.path.realpath(f.path) in live)
    if named:
        shown = ", ".join(named[:3]) + (", ..." if len(named) > 3 else "")
        raise InvalidInput(
            f"restore_files names the live sink files of {ctx.own_connector} ({shown}), which "
            f"the move-files step moves out of {ctx.settings.sink_path} before the replay: leave "
            "out restore_files (the runbook replays the files it moved), or give --snapshot "
            "alpha.N; nothing was changed"
        )


def run_runbook(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:

    settings = validate.settings_from_args(args, need_sources=False)
    # With --snapshot, the encrypted backup stays mounted (privately) for the whole runbook.
    with snapshot_settings(settings, args.snapshot_root) as readable:
        return _run_runbook(readable, args, out, err, stdin)


def _run_runbook(
    settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO
) -> int:

    steps = _selected(args)
    journal = Journal.load(_journal_path(settings, args))
    ctx = Context(settings, args, journal, out, err, Progress(err))
    fingerprint = _fingerprint(settings)
    resuming = bool(journal.data["steps"])
    if args.runbook and resuming and journal.get("fingerprint") not in (None, fingerprint):
        raise InvalidInput(
            f"an unfinished restore of {settings.topic} with other arguments is recorded in "
            f"{journal.path} ({journal.get('fingerprint')}): re-run that command to finish it, "
            "or remove the journal to start over"
        )
    finished = journal.latest_finished() if args.runbook and not resuming else None
    if finished is not None and finished.get("fingerprint") == fingerprint:
        # The same command again after it completed: repeating it would set the restored
        # files aside and replay them a second time. Nothing is contacted or changed.
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(finished.get("created", 0))))
        ctx.say(
            f"this restore of {settings.topic} already completed (started {when}; journal "
            f"{finished.path}): nothing to do. To run it once more, move that journal away "
            "and re-run the command"
        )
        return EXIT_OK

    if not args.dry_run:
        if _CONNECT_STEPS & set(steps):
            ctx.connect = ConnectClient(settings.connect_url, attempts=3, timeout=10)
            try:
                ctx.connect.connectors()
            except ConnectError as exc:
                raise KafkaCheckError(f"{exc.message}; nothing was changed") from None
        if _KAFKA_STEPS & set(steps):
            assert settings.bootstrap is not None
            ctx.admin = KafkaAdmin(settings.bootstrap)
            ctx.admin.check_reachable()
            if "recreate-topic" in steps and not journal.done("recreate-topic"):
                if _target_info(ctx) is None:
                    raise KafkaCheckError(
                        f"topic {settings.topic} does not exist on {settings.bootstrap} and "
                        "its partition count is unknown: give --partitions"
                    )
            elif ctx.admin.describe(settings.topic) is None:
                raise KafkaCheckError(
                    f"topic {settings.topic!r} does not exist on {settings.bootstrap}: run the "
                    "recreate-topic step (or the whole --runbook); nothing was changed"
                )

    _plan_preview(ctx, steps)
    group = consumer_group(settings.topic, settings.sink_name)
    ctx.say("steps:")
    for number, step in enumerate(steps, 1):
        state = " (done in a previous run)" if args.runbook and journal.done(step) else ""
        title = _TITLES[step].format(topic=settings.topic, group=group)
        ctx.say(f"  {number}. {title}{state}")
    if args.dry_run:
        ctx.say("dry run: no step was run")
        return EXIT_OK
    confirm(args.yes, stdin, out)
    journal.set("fingerprint", fingerprint)

    with ExitStack() as stack:
        if ctx.connect is not None:
            held = sorted({*_known_connectors(ctx), ctx.own_connector})
            settings.sink_path.mkdir(parents=True, exist_ok=True)
            stack.enter_context(
                hold_connectors(settings.sink_path, held, f"restore {settings.topic}")
            )
        try:
            _run_steps(ctx, steps)
        except (RestoreError, ConnectError, KafkaException, OSError) as exc:
            ctx.say(f"FAILED: {exc}")
            ctx.say(
                f"the journal {journal.path} records the finished steps: fix the cause and "
                "re-run the same command to continue"
            )
            return EXIT_FAILED
    if args.runbook or all(journal.done(step) for step in STEPS):
        aside = journal.get("snapshot_dir")
        archived = journal.archive()
        ctx.say(f"restore of {settings.topic} complete (journal: {archived})")
        if aside is not None and journal.get("moved_files"):
            ctx.say(set_aside_note(settings, Path(str(aside))).strip())
    return EXIT_OK


def _run_steps(ctx: Context, steps: list[str]) -> None:
    journal = ctx.journal
    redo_topic = journal.status("replay") == STARTED
    for number, step in enumerate(steps, 1):
        title = _TITLES[step].format(
            topic=ctx.topic, group=consumer_group(ctx.topic, ctx.settings.sink_name)
        )
        again = ""
        if ctx.args.runbook and journal.done(step):
            if step == "stop-connectors" and not journal.done("resume-connectors"):
                again = " (again: make sure they are still stopped)"
            elif step == "recreate-topic" and redo_topic:
                again = " (again: a previous replay was cut short, so start from an empty topic)"
            else:
                ctx.say(f"[{number}/{len(steps)}] {title}: done in a previous run, skipped")
                continue
        ctx.say(f"[{number}/{len(steps)}] {title}{again}")
        if step == "recreate-topic" and redo_topic and journal.status("replay") == STARTED:
            journal.mark("replay", "interrupted")
        journal.mark(step, STARTED)
        _inject_failure(f"before-{step}")
        details = _STEP_FUNCTIONS[step](ctx)
        journal.mark(step, DONE, **details)
