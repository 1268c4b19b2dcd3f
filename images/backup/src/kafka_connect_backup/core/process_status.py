"""What the kernel reports about this process (/proc/self/status): its effective capabilities
(root without CAP_DAC_OVERRIDE is an ordinary user to the file permission checks; the chart's
devicePlugin mode keeps only CAP_SYS_ADMIN) and its umask (read without setting it, which would
race with the supervisor's other threads)."""

from __future__ import annotations

from pathlib import Path

# linux/capability.h
CAP_DAC_OVERRIDE = 1

STATUS = Path("/proc/self/status")
DEFAULT_UMASK = 0o022


def field(name: str, status: Path = STATUS) -> str | None:
    try:
        text = status.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return None


def has_capability(capability: int, status: Path = STATUS) -> bool:
    mask = field("CapEff", status)
    return mask is not None and bool(int(mask, 16) >> capability & 1)


def umask(status: Path = STATUS) -> int:
    value = field("Umask", status)
    return int(value, 8) if value is not None else DEFAULT_UMASK
