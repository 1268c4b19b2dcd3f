"""The seed README's restore runbook as one command, each step (steps.py) also available alone.

Each step is printed before it runs and recorded in a journal ({stateDir}/restore-{topic}.json).
A re-run of the same command after a failure skips the finished steps, re-asserts that the
connectors are stopped, and, if a replay was cut short, recreates the topic again first so no
record is sent twice. While it runs, the connectors are held (connect/hold.py) so the
supervisor's reconciler leaves them stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from confluent_kafka import KafkaException

from kafka_connect_backup.connect.hold import place_holds, release_holds
from kafka_connect_backup.connect.rest import ConnectClient, ConnectError
from kafka_connect_backup.core.exit_codes import EXIT_FAILED, EXIT_OK, RestoreError
from kafka_connect_backup.core.units import first_few, utc_iso
from kafka_connect_backup.kafka.admin import KafkaAdmin, KafkaCheckError
from kafka_connect_backup.kafka.timefilter import DEFAULT_TIMESTAMP_FIELD, MissingTimestamp
from kafka_connect_backup.layout.names import RESTORE_DIR, journal_name
from kafka_connect_backup.layout.sinkfiles import connector_name, consumer_group
from kafka_connect_backup.restore.confirm import confirm
from kafka_connect_backup.restore.pipeline import (
    Progress,
    check_creatable,
    check_record_sizes,
    describe_plan,
    dry_run_admin,
    key_order_warning,
    make_plan,
    print_consequences,
    refuse_duplicates,
    snapshot_settings,
)
from kafka_connect_backup.restore.plan import Plan
from kafka_connect_backup.restore.runbook.journal import DONE, STARTED, Journal
from kafka_connect_backup.restore.runbook.steps import (
    CONNECT_STEPS,
    KAFKA_STEPS,
    STEPS,
    Context,
    Fault,
    Step,
    busy_groups,
    current_sink_files,
    groups_to_change,
    known_connectors,
    no_fault,
    replay_sources,
    set_aside_note,
    target_info,
    title,
)
from kafka_connect_backup.restore.sources import SourceFile
from kafka_connect_backup.restore.step_names import STEP_NAMES
from kafka_connect_backup.restore.target import Consequences, TargetState, consequences, read_target
from kafka_connect_backup.restore.validate import InvalidInput, Settings


def _fingerprint(settings: Settings) -> dict[str, object]:
    """Every option that changes what the restore sends or changes, so a different restore is
    never taken for this one. An option at its default is left out, so a journal of an earlier
    version still matches the command that wrote it."""
    given: dict[str, object] = {
        "bootstrap": settings.bootstrap,
        "timestamp_field": settings.timestamp_field,
        "missing_timestamp": settings.missing.value,
        "key_field": settings.key_field,
        "source_connector": settings.source_connector,
        "allow_incomplete": settings.allow_incomplete,
        "append": settings.append,
        "partitions": settings.partitions,
        "replication_factor": settings.replication_factor,
        "reset_groups": list(settings.reset_groups),
        "from_offsets": {str(p): o for p, o in sorted(settings.from_offsets.items())},
        "restore_groups": settings.restore_groups,
        "drop_configs": sorted(settings.drop_configs),
        "snapshot_at": utc_iso(settings.snapshot_at) if settings.snapshot_at else None,
    }
    defaults: dict[str, object] = {
        "timestamp_field": DEFAULT_TIMESTAMP_FIELD,
        "missing_timestamp": MissingTimestamp.SKIP.value,
        "source_connector": connector_name(settings.topic, settings.sink_name),
    }
    return {
        "topic": settings.topic,
        "window": settings.window.describe(),
        "sources": list(settings.patterns),
        # --snapshot-at: the time, not the name it chose (a later cycle renames that one).
        "snapshot": None if settings.snapshot_at else settings.snapshot,
        "sink_name": settings.sink_name,
        **{
            key: value
            for key, value in given.items()
            if value not in (None, False, [], {}) and value != defaults.get(key)
        },
    }


def _same_restore(recorded: object, fingerprint: dict[str, object]) -> bool:
    """Whether a journal's fingerprint is this command's. An earlier version recorded no
    bootstrap: its journal matches this command on any."""
    if not isinstance(recorded, dict):
        return recorded is None
    if "bootstrap" not in recorded:
        fingerprint = {k: v for k, v in fingerprint.items() if k != "bootstrap"}
    return recorded == fingerprint


def _journal_path(settings: Settings) -> Path:
    state_dir = settings.state_dir or settings.sink_path / RESTORE_DIR
    return state_dir / journal_name(settings.topic)


def _check_access(ctx: Context, admin: KafkaAdmin, steps: tuple[str, ...]) -> None:
    """The ACLs the chosen steps need, checked before the first step changes anything (a
    topic deleted by a principal that may not create it again is the worst case)."""
    operations = {"Describe"}
    pending = {step for step in steps if not ctx.journal.done(step)}
    recreate = "recreate-topic" in pending
    if recreate:
        operations |= {"Delete", "DescribeConfigs"}
    if "replay" in pending:
        operations.add("Write")
    groups: tuple[str, ...] = ()
    if "reset-offsets" in pending:
        operations.add("Read")
        sink_group = consumer_group(ctx.topic, ctx.settings.sink_name)
        groups = tuple(dict.fromkeys((sink_group, *ctx.settings.reset_groups)))
    admin.check_access(
        ctx.topic, sorted(operations), create=recreate, groups=groups, doing="nothing was changed"
    )


def _plan_preview(
    ctx: Context, target: TargetState | None, admin: KafkaAdmin | None
) -> Consequences | None:
    """Show what the replay will send and what the run changes, before any step runs
    (validates the sources, and their record sizes against the topic, too)."""
    recreate = "recreate-topic" in ctx.settings.steps and not ctx.journal.done("recreate-topic")
    info = target_info(ctx) if recreate else None
    dry_run_out = ctx.out if ctx.settings.dry_run else None
    if info is not None and admin is not None and target is not None and not target.partitions:
        # Created from the saved metadata (the topic is gone): its configs may be an older
        # Kafka's.
        check_creatable(admin, info, dry_run_out=dry_run_out)
    partitions = info.partitions if info else (target.partitions if target else None)
    plan = _replay_plan(ctx, partitions or None) if _will_run(ctx, "replay") else None
    if plan is not None and admin is not None:
        check_record_sizes(admin, plan, ctx.topic, dry_run_out=dry_run_out)
    if target is None or not (recreate or plan is not None):
        return None
    effects = _consequences(ctx, target, plan, recreate=recreate)
    print_consequences(effects, ctx.out)
    warning = key_order_warning(ctx.settings, info.partitions if info else target.partitions, plan)
    if warning and plan is not None:
        ctx.say(warning)
    return effects


def _consequences(
    ctx: Context, target: TargetState, plan: Plan | None, *, recreate: bool
) -> Consequences:
    return consequences(
        target,
        plan,
        recreate=recreate,
        sink_group=consumer_group(ctx.topic, ctx.settings.sink_name),
        reset_groups=ctx.settings.reset_groups,
        restored_groups=tuple(plan.exact.groups) if plan and plan.exact else (),
        append=ctx.settings.append,
        copy=(
            "their only copy stays in the sink files the move-files step sets aside in "
            f"{ctx.settings.sink_path}/snapshot-{ctx.topic}-<time>/ (outside the encrypted "
            "backup) and in the backup's snapshots until backup.retention rotates them"
        ),
    )


def _refuse_busy_groups(
    ctx: Context, admin: KafkaAdmin | None, effects: Consequences | None
) -> None:
    """A group the reset-offsets step will change that has members now: refused before the
    first step (a dry run says a real run refuses it)."""
    if admin is None or not _will_run(ctx, "reset-offsets"):
        return
    restored: list[str] = []
    if ctx.settings.restore_groups:
        restored = [*(effects.restored_groups if effects else ()),
                    *(ctx.journal.get("group_positions") or {})]  # fmt: skip
    stopping = _will_run(ctx, "stop-connectors")
    busy = busy_groups(admin, groups_to_change(ctx, restored, stopping=stopping))
    if busy is None:
        return
    if ctx.settings.dry_run:
        ctx.say(f"a real run refuses this: {busy}")
        return
    raise InvalidInput(f"{busy}, then re-run the command; nothing was changed")


def _replay_plan(ctx: Context, partitions: int | None) -> Plan:
    steps = ctx.settings.steps
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
    plan = make_plan(ctx.settings, sources, ctx.progress, target_partitions=partitions)
    ctx.say(f"replay source{note}:")
    describe_plan(ctx.settings, plan, ctx.out, dry_run=ctx.settings.dry_run)
    return plan


def _refuse_live_sources(ctx: Context, sources: list[SourceFile]) -> None:
    """restore_files naming the live sink files would be gone by the replay (the move-files
    step moves them aside first) after the topic was already deleted: refuse up front."""
    live = {os.path.realpath(f.path) for f in current_sink_files(ctx)}
    named = sorted(f.path.name for f in sources if os.path.realpath(f.path) in live)
    if named:
        shown = first_few(named)
        raise InvalidInput(
            f"restore_files names the live sink files of {ctx.own_connector} ({shown}), which "
            f"the move-files step moves out of {ctx.settings.sink_path} before the replay: leave "
            "out restore_files (the runbook replays the files it moved), or give --snapshot "
            "alpha.N; nothing was changed"
        )


def run_runbook(
    settings: Settings,
    out: TextIO,
    err: TextIO,
    stdin: TextIO,
    *,
    fault: Fault = no_fault,
    json_out: TextIO | None = None,
) -> int:
    # With --snapshot, the encrypted backup stays mounted (privately) for the whole runbook.
    with snapshot_settings(settings, settings.given_snapshot_root) as readable:
        journal = Journal.load(_journal_path(readable))
        progress = Progress(err)
        ctx = Context(readable, journal, out, progress, json_out or out, fault=fault)
        return _run_runbook(ctx, stdin)


def _run_runbook(ctx: Context, stdin: TextIO) -> int:
    fingerprint = _fingerprint(ctx.settings)
    _refuse_other_restore(ctx, fingerprint)
    if _already_completed(ctx, fingerprint):
        return EXIT_OK
    if ctx.settings.dry_run:
        reader = _dry_run_reader(ctx)
        target = read_target(reader, ctx.topic) if reader is not None else None
    else:
        reader = None  # the preview reads through ctx.admin
        target = _open_clients(ctx)
    effects = _plan_preview(ctx, target, reader or ctx.admin)
    _refuse_busy_groups(ctx, reader or ctx.admin, effects)
    _list_steps(ctx)
    if ctx.settings.dry_run:
        ctx.say("dry run: no step was run")
        return EXIT_OK
    confirm(
        ctx.settings.yes,
        stdin,
        ctx.out,
        destructive=effects.warning() if effects is not None else None,
        force=ctx.settings.force,
    )
    ctx.journal.set("fingerprint", fingerprint)
    if effects is not None and ctx.journal.get("target") is None:
        ctx.journal.set("target", effects.as_dict())
    return _run_held(ctx, fingerprint)


def _refuse_other_restore(ctx: Context, fingerprint: dict[str, object]) -> None:
    """A journal of a restore with other arguments is refused before anything is contacted."""
    settings, journal = ctx.settings, ctx.journal
    resuming = bool(journal.data["steps"])
    if settings.whole and resuming and not _same_restore(journal.get("fingerprint"), fingerprint):
        raise InvalidInput(
            f"an unfinished restore of {settings.topic} with other arguments is recorded in "
            f"{journal.path} ({journal.get('fingerprint')}): re-run that command to finish it, "
            "or remove the journal to start over"
        )
    if not settings.whole:
        _check_steps_journal(ctx, fingerprint)


def _already_completed(ctx: Context, fingerprint: dict[str, object]) -> bool:
    """The same command again after it completed: repeating it would set the restored files
    aside and replay them a second time. Said, and nothing is contacted or changed."""
    journal = ctx.journal
    if not ctx.settings.whole or journal.data["steps"]:
        return False
    finished = journal.latest_finished()
    if finished is None or finished.get("fingerprint") is None:
        return False
    if not _same_restore(finished.get("fingerprint"), fingerprint):
        return False
    when = utc_iso(float(finished.get("created", 0)))
    ctx.say(
        f"this restore of {ctx.topic} already completed (started {when}; journal "
        f"{finished.path}): nothing to do. To run it once more, move that journal away "
        "and re-run the command"
    )
    return True


def _dry_run_reader(ctx: Context) -> KafkaAdmin | None:
    """A dry run reads Kafka when a selected step needs it, and when it answers."""
    if not KAFKA_STEPS & set(ctx.settings.steps):
        return None
    return dry_run_admin(ctx.settings, ctx.out)


def _open_clients(ctx: Context) -> TargetState | None:
    """Connect and Kafka, for the selected steps that need them, checked before any step
    runs; the target topic as it is before anything changes (None without Kafka steps)."""
    settings, steps = ctx.settings, set(ctx.settings.steps)
    if CONNECT_STEPS & steps:
        ctx.connect = ConnectClient(settings.connect_url, attempts=3, timeout=10)
        try:
            ctx.connect.connectors()
        except ConnectError as exc:
            raise KafkaCheckError(f"{exc.message}; nothing was changed") from None
    if not KAFKA_STEPS & steps:
        return None
    ctx.admin = KafkaAdmin(settings.kafka)
    ctx.admin.check_reachable()
    _check_access(ctx, ctx.admin, settings.steps)
    _check_topic(ctx, ctx.admin)
    target = read_target(ctx.admin, settings.topic)  # before anything changes
    if _will_run(ctx, "replay") and not (
        "recreate-topic" in steps or ctx.journal.done("recreate-topic")
    ):
        refuse_duplicates(
            target,
            append=settings.append,
            ways="run the recreate-topic step first, or give --append to add them anyway",
        )
    return target


def _check_topic(ctx: Context, admin: KafkaAdmin) -> None:
    """The topic exists, or the recreate-topic step knows its partition count."""
    settings = ctx.settings
    if "recreate-topic" in settings.steps and not ctx.journal.done("recreate-topic"):
        if target_info(ctx) is None:
            raise KafkaCheckError(
                f"topic {settings.topic} does not exist on {settings.bootstrap} and "
                "its partition count is unknown: give --partitions"
            )
    elif admin.describe(settings.topic) is None:
        raise KafkaCheckError(
            f"topic {settings.topic!r} does not exist on {settings.bootstrap}: run the "
            "recreate-topic step (or the whole --runbook); nothing was changed"
        )


def _list_steps(ctx: Context) -> None:
    ctx.say("steps:")
    for number, step in enumerate(_selected(ctx.settings), 1):
        state = "" if _will_run(ctx, step.name) else " (done in a previous run, skipped)"
        ctx.say(f"  {number}. {title(step, ctx.settings)}{state}")


def _run_held(ctx: Context, fingerprint: dict[str, object]) -> int:
    """The steps, with the connectors held; the holds released and the journal archived once
    the restore is complete."""
    settings, journal = ctx.settings, ctx.journal
    held = sorted({*known_connectors(ctx), ctx.own_connector})
    if ctx.connect is not None:
        # On the data volume, owned by the journal: the supervisor leaves these connectors
        # stopped across separate --step commands and a failed run, until they are resumed.
        settings.sink_path.mkdir(parents=True, exist_ok=True)
        place_holds(settings.sink_path, held, f"restore {settings.topic}", journal.path)
    try:
        _run_steps(ctx, fingerprint)
    except (RestoreError, ConnectError, KafkaException, OSError) as exc:
        ctx.say(f"FAILED: {exc}")
        ctx.say(
            f"the journal {journal.path} records the finished steps: fix the cause and "
            "re-run the same command to continue (until then the supervisor leaves "
            f"{', '.join(held)} stopped)"
        )
        return EXIT_FAILED
    if settings.whole or all(journal.done(step) for step in STEP_NAMES):
        aside = journal.get("snapshot_dir")
        release_holds(settings.sink_path, held)
        archived = journal.archive()
        ctx.say(f"restore of {settings.topic} complete (journal: {archived})")
        if aside is not None and journal.get("moved_files"):
            ctx.say(set_aside_note(settings, Path(str(aside))).strip())
    return EXIT_OK


def _selected(settings: Settings) -> list[Step]:
    return [step for step in STEPS if step.name in settings.steps]


# Steps that only assert a state (stopped, running): run again whenever they are asked for.
REPEATABLE = frozenset({"stop-connectors", "resume-connectors"})


def _again(ctx: Context, name: str) -> str | None:
    """Why a step the journal records as done runs again (its heading's note), or None when it
    is skipped: a step that sends or changes something is never repeated in one restore."""
    journal, whole = ctx.journal, ctx.settings.whole
    if name == "stop-connectors" and not (whole and journal.done("resume-connectors")):
        return " (again: make sure they are still stopped)"
    if name == "resume-connectors" and not whole:
        return " (again)"
    if name == "recreate-topic" and journal.status("replay") == STARTED:
        return " (again: a previous replay was cut short, so start from an empty topic)"
    return None


def _will_run(ctx: Context, name: str) -> bool:
    return name in ctx.settings.steps and (
        not ctx.journal.done(name) or _again(ctx, name) is not None
    )


def _check_steps_journal(ctx: Context, fingerprint: dict[str, object]) -> None:
    """--step commands of one restore share its journal: a step done with other arguments, or
    a replay cut short without the topic recreated first, is refused before anything runs."""
    journal = ctx.journal
    for name in ctx.settings.steps:
        if name in REPEATABLE or not journal.done(name):
            continue
        entry = journal.data["steps"][name]
        done_with = entry.get("fingerprint", journal.get("fingerprint"))
        if not _same_restore(done_with, fingerprint):
            raise InvalidInput(
                f"step {name} of the restore of {ctx.topic} was done with other arguments "
                f"({done_with}; journal {journal.path}): repeating it with these would send or "
                "change things twice; remove the journal to start a new restore; nothing was "
                "changed"
            )
    steps = ctx.settings.steps
    if "replay" in steps and journal.status("replay") == STARTED and "recreate-topic" not in steps:
        raise InvalidInput(
            f"a previous replay into {ctx.topic} was cut short (journal {journal.path}): "
            "replaying again would duplicate what it sent; give --step recreate-topic --step "
            "replay to start from an empty topic; nothing was changed"
        )


def _run_steps(ctx: Context, fingerprint: dict[str, object]) -> None:
    journal = ctx.journal
    steps = _selected(ctx.settings)
    for number, step in enumerate(steps, 1):
        name, heading = step.name, title(step, ctx.settings)
        again = ""
        if journal.done(name):
            note = _again(ctx, name)
            if note is None:
                ctx.say(
                    f"[{number}/{len(steps)}] {heading}: done in a previous run of this restore "
                    f"(journal {journal.path}), skipped"
                )
                continue
            again = note
        ctx.say(f"[{number}/{len(steps)}] {heading}{again}")
        if name == "recreate-topic" and journal.status("replay") == STARTED:
            journal.mark("replay", "interrupted")
        journal.mark(name, STARTED)
        ctx.fault(f"before-{name}")
        details = step.run(ctx)
        journal.mark(name, DONE, fingerprint=fingerprint, **details)
