"""How numbers and lists read in messages: one size unit style (binary, 1 decimal), counted
nouns, a short list of names."""

from __future__ import annotations


def human_bytes(count: int) -> str:
    """1023 B, 1.0 KiB, 12.3 MiB, 4.5 GiB, 1.2 TiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 partition', '3 partitions', '0 records'."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def first_few(names: list[str], most: int = 3) -> str:
    """'a, b, c' or 'a, b, c, ...': a list a message names without drowning in it."""
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")
