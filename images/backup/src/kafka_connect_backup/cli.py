"""`kcb` command line: supervise, backup-now, status, check-config, acls (and snapshots list /
export / verify and drill, which read the backup)."""

# The whole parser of `kcb` is here (the docstring above is its --help description); the
# handlers of `snapshots` and `drill` are in inspect/commands.py.

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

from kafka_connect_backup import __version__
from kafka_connect_backup.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from kafka_connect_backup.core import durable
from kafka_connect_backup.core.durations import parse_duration
from kafka_connect_backup.core.errors import KcbError
from kafka_connect_backup.core.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_DRILL_FAILED,
    EXIT_DRILL_PASSED,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NO_SNAPSHOT,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNAVAILABLE,
)
from kafka_connect_backup.core.logs import configure_logging
from kafka_connect_backup.core.units import counted, human_bytes, took
from kafka_connect_backup.inspect import commands as inspect_commands
from kafka_connect_backup.inspect.commands import (
    DEFAULT_TIMESTAMP_FIELD,
)
from kafka_connect_backup.inspect.export import STDOUT
from kafka_connect_backup.kafka.timefilter import MissingTimestamp
from kafka_connect_backup.layout.names import ALL_LEVELS, DRILL_NAME
from kafka_connect_backup.supervisor import volume_lock
from kafka_connect_backup.supervisor.volume_lock import VolumeLock


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(
        f"{args.config}: valid ({len(config.topics)} topic(s), restartTimeout "
        f"{config.restart_timeout}, backup {'enabled' if config.backup.enabled else 'disabled'})"
    )
    return EXIT_OK


def _supervise(args: argparse.Namespace) -> int:
    from kafka_connect_backup.supervisor.daemon import Supervisor

    config = load_config(args.config)
    configure_logging(config.log_level)
    # A crash in native code (librdkafka's threads) still leaves every thread's stack in the
    # log, instead of a bare exit -11.
    faulthandler.enable()
    lock = _volume_lock(config, "a supervisor")
    if lock is None:
        return EXIT_INVALID
    try:
        supervisor = Supervisor(config)
    except OSError as exc:  # the metrics/health port is taken or not allowed
        print(
            f"kcb: cannot listen on {config.metrics.host}:{config.metrics.port}: "
            f"{exc.strerror} (fix: another process listens there: choose a free metrics.port, "
            "or 0 to disable the endpoint)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    supervisor.install_signal_handlers()
    try:
        return supervisor.run()
    finally:
        lock.release()


def _volume_lock(config: Config, what: str) -> VolumeLock | None:
    """The data volume's supervisor lock, or None with the refusal printed."""
    try:
        return volume_lock.acquire(config, what)
    except KcbError as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return None
    except OSError as exc:
        print(
            f"kcb: cannot take the supervisor lock in {config.sink_path}: "
            f"{exc.strerror or exc} (fix: check that sinkPath is writable)",
            file=sys.stderr,
        )
        return None


def _endpoint(config: Config) -> str | None:
    if not config.metrics.port:
        return None
    host = config.metrics.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (compared, not bound)
        host = "127.0.0.1"
    return f"http://{host}:{config.metrics.port}"


def _backup_now(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.command_config)
    configure_logging(config.log_level)
    endpoint = _endpoint(config)
    if args.local or endpoint is None:
        from kafka_connect_backup.supervisor.daemon import Supervisor

        if endpoint is None and not args.local:
            print(
                "kcb: metrics.port is 0 (no supervisor endpoint): give --local to run one "
                "cycle in this process",
                file=sys.stderr,
            )
            return EXIT_INVALID
        lock = _volume_lock(config, "a local cycle (--local)")
        if lock is None:
            return EXIT_INVALID
        try:
            cycle = Supervisor(config, http=False).run_once().summary()
        finally:
            lock.release()
    else:
        try:
            response = requests.post(
                f"{endpoint}/backup-now",
                params={"wait": "0" if args.no_wait else "1", "timeout": str(args.timeout)},
                timeout=args.timeout + 10,
            )
        except requests.ConnectionError:
            print(
                f"kcb: no supervisor answers at {endpoint}: is the supervisor container "
                "running? (--local runs one cycle in this process instead: it stops and "
                "resumes the connectors itself, so never beside a running supervisor)",
                file=sys.stderr,
            )
            return EXIT_FAILED
        answer = response.json()
        if "error" in answer and not args.json:
            fix = f" (fix: {answer['fix']})" if answer.get("fix") else ""
            print(f"kcb: the supervisor refused: {answer['error']}{fix}", file=sys.stderr)
            return EXIT_INVALID
        if args.no_wait:
            print(json.dumps(answer, indent=2) if args.json else "kcb: cycle requested")
            return EXIT_OK if answer.get("accepted") else EXIT_FAILED
        cycle = answer.get("cycle") or {}
        if not cycle:
            print(
                json.dumps(answer, indent=2)
                if args.json
                else f"kcb: the cycle did not finish within {args.timeout:g}s: it goes on in "
                "the supervisor (kcb status shows its result)"
            )
            return EXIT_FAILED
    print(json.dumps(cycle, indent=2) if args.json else describe_cycle(cycle))
    return EXIT_OK if cycle.get("ok") else EXIT_FAILED


def describe_cycle(cycle: dict[str, Any]) -> str:
    """One cycle's summary for an operator: the snapshot it took and Connect's downtime."""
    duration = f"in {took(cycle.get('durationSeconds', 0))}"
    if not cycle.get("ok"):
        state = "ABORTED" if cycle.get("aborted") else "FAILED"
        return (
            f"cycle {cycle.get('cycleId')} {state} {duration}, in step {cycle.get('step')} "
            f"({cycle.get('cause')}): {cycle.get('error')}"
            + (f" (fix: {cycle['fix']})" if cycle.get("fix") else "")
        )
    snapshot = cycle.get("snapshot")
    taken = (
        f"snapshot {snapshot['name']}: {counted(snapshot['files'], 'file')}, "
        f"{human_bytes(snapshot['bytes'])} ({snapshot['engine']})"
        if snapshot
        else "no snapshot (backup.enabled is false)"
    )
    downtime = cycle.get("connectDowntimeSeconds")
    stopped = ", ".join(cycle.get("stopped") or []) or "none"
    return (
        f"cycle {cycle.get('cycleId')} OK {duration}: {taken}; Connect down "
        f"{'?' if downtime is None else took(downtime)} (connectors {stopped})"
    )


def _status(args: argparse.Namespace) -> int:
    from kafka_connect_backup.kafka.admin import KafkaAdmin, KafkaCheckError
    from kafka_connect_backup.supervisor import status

    config = load_config(args.config, args.command_config)
    endpoint = _endpoint(config)
    doc: dict[str, Any] | None = None
    if endpoint is not None:
        with contextlib.suppress(requests.RequestException, ValueError):
            doc = requests.get(f"{endpoint}/status", timeout=30).json()
    if not isinstance(doc, dict) or "healthy" not in doc:
        reader = KafkaAdmin(config.kafka.connection(), timeout=5.0)
        admin: KafkaAdmin | None = reader
        note = None
        try:
            reader.check_reachable()
        except KafkaCheckError as exc:
            admin, note = None, f"lag not read: {exc}"
        doc = status.collect(config, admin=admin)
        doc["errors"] = [*doc["errors"], *([note] if note else [])]
        status.without_supervisor(config, doc, endpoint)
    print(json.dumps(doc, indent=2) if args.json else status.render(doc))
    return EXIT_OK if doc["healthy"] else EXIT_FAILED


def _acls(args: argparse.Namespace) -> int:
    """The ACLs of this release's principal (kafka/acls.py), as kafka-acls lines to run."""
    from kafka_connect_backup.kafka.acls import backup_acls, restore_acls

    config = load_config(args.config)
    security = config.kafka.security()
    principal = args.principal or (
        f"User:{security.username}" if security.username else "User:<principal>"
    )
    wanted = backup_acls(config.topics, config.sink_name, drills=not args.no_drills)
    for topic in args.restore or []:
        wanted += restore_acls(topic, config.sink_name)
    for acl in dict.fromkeys(wanted):
        print(f"# {acl.why}")
        print(acl.command(principal, config.kafka.bootstrap_servers))
    return EXIT_OK


# backup-now --timeout: a wait longer than a week is a typo, not a plan.
MAX_WAIT_DAYS = 7


def _wait_timeout(text: str) -> float:
    """--timeout, refused before anything is requested: nan, inf, 0 and -1 are not a wait
    (-1 used to trigger the cycle and print the supervisor's raw answer)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds > MAX_WAIT_DAYS * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than {MAX_WAIT_DAYS}d")
    return seconds


def config_option() -> argparse.ArgumentParser:
    """Parent parser for subcommands: `--config` also accepted after the subcommand."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help=f"default {DEFAULT_CONFIG_PATH}"
    )
    return parent


def command_config_option() -> argparse.ArgumentParser:
    """Parent parser of the subcommands that talk to Kafka."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--command-config",
        type=Path,
        metavar="FILE",
        help="Kafka client properties (security.protocol, sasl.*, ssl.truststore.* PEM), as "
        "for Kafka's CLI tools; default: the config's kafka.tls / kafka.authentication",
    )
    return parent


def _drill_records(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of records from 1 to 1000000")
    return value


def _add_snapshots(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    snapshots = commands.add_parser(
        "snapshots", help="backup snapshots ({level}.N)", parents=parents
    )
    actions = snapshots.add_subparsers(dest="snapshots_command", required=True)
    listing = actions.add_parser(
        "list",
        help="each snapshot of every level with the time it was taken, its age, status, files, "
        "sizes and the time range of its records",
        description="Each snapshot of every level (alpha.N of backup.retention; hourly.N, "
        "daily.N, weekly.N, monthly.N of backup.keep), the level with the newest snapshot "
        "first and the heading naming the newest usable one, with the time it was taken and "
        "its age, its status (complete: verified and "
        "unchanged since; INCOMPLETE and why: cut short or failed its verification; "
        "unverified: no completeness marker, made by an older version), files, sizes and the "
        "time range of its records; then the directories the interrupted-run cleanup set aside "
        "(_incomplete.LEVEL.N.EPOCH, SET ASIDE); --json adds each one's level and takenAt. "
        "With backup enabled in the config and no "
        "--snapshot-root, the encrypted backup is mounted read-only in spirit at a private "
        "temporary mount point for the listing and unmounted afterwards (a supervisor cycle "
        f"may run meanwhile). Exit codes: 0 listed (whatever their status); {EXIT_NO_SNAPSHOT} "
        "no snapshot (set-aside directories are still listed; also an empty backup target, "
        "before the first cycle), or with --topic no snapshot holding a file of the topic; "
        f"{EXIT_UNAVAILABLE} snapshot "
        "root missing "
        "or the backup could not be mounted.",
        parents=parents,
    )
    listing.add_argument(
        "--snapshot-root",
        type=Path,
        help="where the {level}.N snapshots live (default: mount the encrypted backup privately)",
    )
    listing.add_argument("--topic", help="only this topic's sink files")
    listing.add_argument("--sink-name", help="connector suffix (default: the config's sinkName)")
    listing.add_argument("--timestamp-field", default="utcTime", help="JSON field of the time")
    listing.add_argument("--no-range", action="store_true", help="sizes only, do not read files")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=inspect_commands.snapshots_list)
    exporting = actions.add_parser(
        "export",
        help="the record values of a topic in a time window, from a snapshot, without Kafka",
        description="The record values of one topic in [--from, --to), one per line in file "
        "order, from a snapshot's plain and gzipped sink files (envelope files: their whole "
        "envelope lines), with restore.py's time rules (its counts are a restore dry run's; "
        "envelope files by the record timestamps unless --timestamp-field is given). The "
        "snapshot: --snapshot daily.3 by name, or --snapshot-at TIME the newest complete one "
        "of any level taken at or before TIME, by default the newest of all (a chosen one is "
        "named on stderr, with why). The encrypted backup is mounted privately, as for "
        "`snapshots list`, unless --snapshot-root names a mounted or copied tree of "
        "{level}.N/localhost/. Counts go to stderr. Exit codes: 0 exported; 1 the output "
        "could not be written (e.g. a full file system: nothing is left under -o); 2 bad "
        "arguments, or the snapshot, its files or the backup cannot be read, or no snapshot "
        "at or before --snapshot-at (nothing written under -o); 141 the reader of stdout "
        "stopped early (`| head`), quietly, as a Unix tool.",
        parents=parents,
    )
    exporting.add_argument("--topic", required=True, help="whose backed-up records")
    exporting.add_argument(
        "--snapshot",
        help="{level}.N of any level, e.g. alpha.0, hourly.0, daily.3 (default: the newest "
        "complete snapshot of any level)",
    )
    exporting.add_argument(
        "--snapshot-at",
        metavar="TIME",
        help="the newest complete snapshot of any level taken at or before this ISO-8601 time "
        "(no zone: UTC); not with --snapshot",
    )
    exporting.add_argument(
        "--from", dest="from_time", required=True, help="ISO-8601 time, inclusive (no zone: UTC)"
    )
    exporting.add_argument("--to", help="ISO-8601 time, exclusive")
    exporting.add_argument("-o", "--output", default=STDOUT, help="file to write, or - (default)")
    exporting.add_argument(
        "--snapshot-root", type=Path, help="where the snapshots live (default: mount the backup)"
    )
    exporting.add_argument("--sink-name", help="connector suffix (default: the config's)")
    exporting.add_argument(
        "--timestamp-field",
        help=f"JSON field (dotted path) of the value holding the record's time (default "
        f"{DEFAULT_TIMESTAMP_FIELD}; envelope files: the record's Kafka timestamp unless this "
        "is given, as for restore.py)",
    )
    exporting.add_argument(
        "--missing-timestamp",
        choices=[m.value for m in MissingTimestamp],
        default=MissingTimestamp.SKIP.value,
        help="lines without a readable time: skip (default), include, or fail",
    )
    exporting.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="read a snapshot marked incomplete (cut short or failed verification) anyway",
    )
    exporting.set_defaults(func=inspect_commands.snapshots_export)
    verifying = actions.add_parser(
        "verify",
        help="check that a snapshot's files are whole, restorable sink files (--deep: read "
        "every byte)",
        description="Check a snapshot (default: the newest of any level; --all: every one) without "
        "writing anything: its status from the completeness marker (anything but complete, "
        "e.g. a marker whose digest no longer matches the content, is a problem); only "
        "localhost/ and the marker at its top, and only sink file names under localhost/ (any"
        " other file is reported by path); each .gz's size, gzip header and trailer; each "
        "plain file's last byte a newline (its last record complete). --deep also reads every"
        " byte through the decryption (a damaged ciphertext block is the engine's I/O error),"
        " decompresses each .gz whole (CRC-32 and length checked), checks every line is "
        "complete and one restore reads (UTF-8; an envelope line), and counts lines per file "
        "and per topic; for each level's newest (.0) it compares each topic's envelope files "
        "with the sink group's committed offsets at the snapshot's stop, exactly (each "
        "partition's last record), and says the offsets are only a bound for value files (not"
        " compared). The encrypted backup is mounted privately, as for `snapshots list`, "
        "unless --snapshot-root names a mounted or copied tree. Prints each snapshot, each "
        "problem (path: what is wrong) and a line of counts (--json: the same for scripts). "
        f"Exit codes: 0 every checked snapshot complete and no problem; {EXIT_PROBLEM} a "
        f"problem found (a snapshot not complete, a damaged or stray file); {EXIT_UNAVAILABLE}"
        " bad arguments, no such snapshot, or the backup could not be mounted.",
        parents=parents,
    )
    which = verifying.add_mutually_exclusive_group()
    which.add_argument(
        "snapshot",
        nargs="?",
        default=None,
        help="{level}.N to check, e.g. hourly.0, daily.3 (default: the newest of any level)",
    )
    which.add_argument("--all", action="store_true", help="check every snapshot of every level")
    verifying.add_argument(
        "--deep",
        action="store_true",
        help="read and decompress every byte, every line as restore reads it",
    )
    verifying.add_argument(
        "--snapshot-root",
        type=Path,
        help="where the {level}.N directories live (default: mount the backup)",
    )
    verifying.add_argument(
        "--sink-name", help="connector suffix, to name topics (default: the config's)"
    )
    verifying.add_argument("--json", action="store_true", help="machine-readable output")
    verifying.set_defaults(func=inspect_commands.snapshots_verify)
    pruning = actions.add_parser(
        "prune",
        help="delete every snapshot of a level the supervisor no longer prunes (a level "
        "removed from backup.keep, or alpha after moving to backup.keep): the plan first",
        description="Prints the plan (each LEVEL.N to delete, its time and size), then with "
        "--yes deletes them, oldest first. Refused for a level of backup.keep and for alpha "
        "while backup.retention is in use (the supervisor prunes those by count: lower the "
        "count instead), and when a snapshot to delete holds a backed-up file that no kept "
        "complete snapshot holds (the only copy of its records) unless --allow-loss. The "
        "encrypted backup is mounted privately, as for `snapshots list`, unless "
        f"--snapshot-root is given. Exit codes: {EXIT_OK} planned or deleted (or nothing to "
        f"prune); {EXIT_INVALID} refused (nothing deleted), bad arguments, or the backup could "
        "not be mounted.",
        parents=parents,
    )
    pruning.add_argument("--level", required=True, help="the level: " + ", ".join(ALL_LEVELS))
    pruning.add_argument("--yes", action="store_true", help="delete them (default: plan only)")
    pruning.add_argument(
        "--allow-loss",
        action="store_true",
        help="delete even the only copy of a backed-up file",
    )
    pruning.add_argument(
        "--snapshot-root", type=Path, help="where the snapshots live (default: mount the backup)"
    )
    pruning.set_defaults(func=inspect_commands.snapshots_prune)


def _add_drill(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    drill = commands.add_parser(
        "drill",
        help="restore the newest records of each topic from the newest snapshot into a "
        "scratch topic and check they come back exactly",
        description="A restore drill: for each topic of the config (or each --topic), the newest "
        "--records complete records of its sink files in the snapshot (--snapshot, default "
        "the newest complete one of all levels) are restored into a scratch topic "
        "kcb-drill-<topic>-<epoch> (1 partition, always deleted afterwards), read back, and "
        "their count and sha256 compared with the snapshot's. Every file of the topic in the "
        "snapshot is read (a damaged file fails the drill). The encrypted backup is mounted "
        "privately, as for `kcb snapshots list`. The "
        f"result is kept in {{sinkPath}}/{DRILL_NAME} (the supervisor's kcb_drill_* metrics). "
        "A topic whose files in the snapshot hold no record (an idle topic) is skipped and "
        'said so, not failed; when every topic is, the result is "skipped". '
        f"Exit codes: {EXIT_DRILL_PASSED} every topic passed or was skipped; "
        f"{EXIT_DRILL_FAILED} a topic failed; {EXIT_UNAVAILABLE} bad arguments, or the "
        f"backup, the snapshot or Kafka could not be "
        "reached.",
        parents=parents,
    )
    drill.add_argument(
        "--topic", action="append", help="drill this topic only (repeatable; default: all)"
    )
    drill.add_argument(
        "--records",
        type=_drill_records,
        help="records per topic (default: the config's backup.drill.records)",
    )
    drill.add_argument(
        "--snapshot",
        help="{level}.N of any level, e.g. hourly.0, daily.3 (default: the newest complete "
        "snapshot of all levels)",
    )
    drill.add_argument(
        "--snapshot-root", type=Path, help="where the snapshots live (default: mount the backup)"
    )
    drill.add_argument("--json", action="store_true", help="machine-readable output")
    drill.set_defaults(func=inspect_commands.drill)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kcb", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    commands = parser.add_subparsers(dest="command", required=True)
    common = [config_option()]
    kafka = [*common, command_config_option()]
    commands.add_parser(
        "check-config", help="validate the config file", parents=common
    ).set_defaults(func=_check_config)
    supervise = commands.add_parser(
        "supervise",
        help="run the supervisor: reconcile connectors, cycle every restartTimeout",
        parents=common,
    )
    supervise.set_defaults(func=_supervise)
    now = commands.add_parser(
        "backup-now",
        help="run a cycle now through the running supervisor (--local: in this process)",
        parents=kafka,
    )
    now.add_argument("--no-wait", action="store_true", help="only trigger the cycle")
    now.add_argument(
        "--local",
        action="store_true",
        help="run the cycle in this process (refused while a supervisor runs on the data "
        "volume: it stops and resumes the connectors itself)",
    )
    now.add_argument(
        "--timeout",
        type=_wait_timeout,
        default=86400.0,
        metavar="DURATION",
        help="how long to wait for the cycle: seconds or 30s, 90m, 2h (default 24h, at most "
        f"{MAX_WAIT_DAYS}d)",
    )
    now.add_argument("--json", action="store_true", help="the cycle's summary as JSON")
    now.set_defaults(func=_backup_now)
    state = commands.add_parser(
        "status",
        help="is the backup good: last cycle, lag and newest record per topic, last snapshot",
        description="The last successful cycle and its age, the next cycle, the last failure "
        "and its fix; per topic the sink's consumer-group lag, the newest record in its "
        "current sink file and its files' size; the last snapshot; restore holds and restores "
        "in progress. From the running supervisor (GET /status), else from the files and "
        "Kafka. Exit 0 healthy; 1 when the last cycle failed or the last success is older than "
        "2 x restartTimeout, sinkPath is missing, the state file is unreadable, or no "
        "supervisor runs on the data volume.",
        parents=kafka,
    )
    state.add_argument("--json", action="store_true", help="machine-readable output")
    state.set_defaults(func=_status)
    acls = commands.add_parser(
        "acls",
        help="the Kafka ACLs this release's principal needs, as kafka-acls commands",
        description="Prints one kafka-acls command per ACL the backup of the config's topics "
        "needs (Connect's sinks, the supervisor's reads, drills), and with --restore those of "
        "restore.py's runbook for a topic. The chart README's 'Kafka ACLs' explains each.",
        parents=common,
    )
    acls.add_argument("--principal", help="default User:<kafka.authentication.username>")
    acls.add_argument(
        "--restore", action="append", metavar="TOPIC", help="also the runbook's ACLs on TOPIC"
    )
    acls.add_argument("--no-drills", action="store_true", help="without the drills' ACLs")
    acls.set_defaults(func=_acls)
    _add_snapshots(commands, common)
    _add_drill(commands, kafka)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with durable.shared_umask():
            return int(args.func(args))
    except ConfigError as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        # `kcb snapshots export ... | head`: the reader has gone. End quietly, as a Unix tool
        # killed by SIGPIPE does (and leave nothing for the interpreter to flush at exit).
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
