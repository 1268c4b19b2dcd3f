"""GNU `timeout` style durations (`30s`, `90m`, `23h`, `1d`, or bare seconds), as the original
chart's `restartTimeout` accepted them."""

import math
import re

DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?[smhd]?$"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a GNU timeout duration; ValueError naming the accepted form otherwise."""
    value = text.strip()
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(
            f"{text!r} is not a duration: use a number with an optional unit s, m, h or d "
            "(for example 30s, 90m, 23h, 1d)"
        )
    unit = value[-1] if value[-1] in _UNIT_SECONDS else "s"
    number = float(value.rstrip("smhd"))
    if number <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    seconds = number * _UNIT_SECONDS[unit]
    if not math.isfinite(seconds):  # float("9" * 400) is inf
        raise ValueError(f"{text!r} is too long a duration")
    return seconds
