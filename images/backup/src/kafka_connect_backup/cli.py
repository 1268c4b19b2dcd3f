"""`kcb` command line: supervise, backup-now, check-config (and snapshots list / export and
drill, from restore)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests

from kafka_connect_backup import __version__
from kafka_connect_backup.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from kafka_connect_backup.logs import configure_logging
from kafka_connect_backup.restore import drill_command, kcb_commands


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(
        f"{args.config}: valid ({len(config.topics)} topic(s), restartTimeout "
        f"{config.restart_timeout}, backup {'enabled' if config.backup.enabled else 'disabled'})"
    )
    return 0


def _supervise(args: argparse.Namespace) -> int:
    from kafka_connect_backup.supervisor.daemon import Supervisor

    config = load_config(args.config)
    configure_logging(config.log_level)
    try:
        supervisor = Supervisor(config)
    except OSError as exc:  # the metrics/health port is taken or not allowed
        print(
            f"kcb: cannot listen on {config.metrics.host}:{config.metrics.port}: "
            f"{exc.strerror} (fix: choose a free metrics.port, or 0 to disable the endpoint)",
            file=sys.stderr,
        )
        return 2
    supervisor.install_signal_handlers()
    return supervisor.run()


def _endpoint(config: Config) -> str | None:
    if not config.metrics.port:
        return None
    host = config.metrics.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (compared, not bound)
        host = "127.0.0.1"
    return f"http://{host}:{config.metrics.port}"


def _backup_now(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(config.log_level)
    endpoint = _endpoint(config)
    if endpoint is not None and not args.local:
        try:
            response = requests.post(
                f"{endpoint}/backup-now",
                params={"wait": "0" if args.no_wait else "1", "timeout": str(args.timeout)},
                timeout=args.timeout + 10,
            )
        except requests.ConnectionError:
            print(f"kcb: no supervisor at {endpoint}; running one cycle here", file=sys.stderr)
        else:
            answer = response.json()
            print(json.dumps(answer, indent=2))
            if args.no_wait:
                return 0 if answer.get("accepted") else 1
            cycle = answer.get("cycle") or {}
            return 0 if cycle.get("ok") else 1
    from kafka_connect_backup.supervisor.daemon import Supervisor

    result = Supervisor(config, http=False).run_once()
    print(json.dumps(result.summary(), indent=2))
    return 0 if result.ok else 1


def config_option() -> argparse.ArgumentParser:
    """Parent parser for subcommands: `--config` also accepted after the subcommand."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help=f"default {DEFAULT_CONFIG_PATH}"
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kcb", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    commands = parser.add_subparsers(dest="command", required=True)
    common = [config_option()]
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
        help="run a cycle now: through the running supervisor, or here when none answers",
        parents=common,
    )
    now.add_argument("--no-wait", action="store_true", help="only trigger the cycle")
    now.add_argument("--local", action="store_true", help="run the cycle in this process")
    now.add_argument("--timeout", type=float, default=86400.0, help="seconds to wait")
    now.set_defaults(func=_backup_now)
    # `kcb snapshots ...` lives with the restore code it shares.
    kcb_commands.add_commands(commands, common)
    drill_command.add_command(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
