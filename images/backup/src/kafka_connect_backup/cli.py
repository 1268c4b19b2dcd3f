"""`kcb` command line: supervise, backup-now, snapshots list, check-config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kafka_connect_backup.config import DEFAULT_CONFIG_PATH, ConfigError, load_config


def _check_config(args: argparse.Namespace) -> int:
    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kcb", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-config", help="validate the config file").set_defaults(
        func=_check_config
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"kcb: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
