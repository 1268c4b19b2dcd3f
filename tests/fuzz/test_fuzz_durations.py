"""GNU timeout durations (durations.parse_duration) and the config's Duration type."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kafka_connect_backup.config import MIN_DURATION_SECONDS, ConfigError, parse_config
from kafka_connect_backup.core.durations import parse_duration

pytestmark = pytest.mark.fuzz

UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@given(
    number=st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False),
    unit=st.sampled_from(sorted(UNITS)),
)
@example(number=Decimal("23"), unit="h")
def test_a_written_duration_parses_to_its_seconds(number: Decimal, unit: str) -> None:
    """format -> parse: `{number}{unit}` is number x the unit's seconds (0 is refused)."""
    text = f"{number}{unit}"
    if number == 0:
        with pytest.raises(ValueError, match="greater than zero"):
            parse_duration(text)
        return
    assert math.isclose(parse_duration(text), float(number) * UNITS[unit], rel_tol=1e-12)


@given(text=st.one_of(st.text(max_size=12), st.text("0123456789.smhdx -\n", max_size=12)))
@example(text="9" * 400)
@example(text="9" * 400 + "d")
@example(text="30s\n")
@example(text="\u0661\u0662s")  # Arabic-Indic digits
def test_any_text_is_a_finite_positive_duration_or_a_value_error(text: str) -> None:
    """Never another exception, never inf (`'9' * 400` once gave inf seconds); the error is
    one line with the text in it."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        message = str(exc)
        assert "\n" not in message and repr(text) in message
    else:
        assert 0 < seconds < math.inf
        assert text.strip().isascii()


@given(text=st.one_of(st.text("0123456789.smhd", min_size=1, max_size=8), st.text(max_size=6)))
@example(text="0.5s")
@example(text="1")
def test_a_config_duration_is_at_least_its_floor_or_names_its_key(text: str) -> None:
    """restartTimeout and connect.holdWarnAfter: a valid config's duration is >= 1 s and
    finite; anything else is a ConfigError on that key."""
    for data, key in (
        ({"topics": ["a"], "restartTimeout": text}, "restartTimeout"),
        ({"topics": ["a"], "connect": {"holdWarnAfter": text}}, "connect.holdWarnAfter"),
    ):
        try:
            config = parse_config(data)
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith(f"config is invalid: {key}: ") and "\n" not in message
        else:
            for seconds in (config.restart_timeout_seconds, config.connect.hold_warn_after_seconds):
                assert MIN_DURATION_SECONDS <= seconds < math.inf
