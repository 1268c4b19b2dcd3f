"""Record lines from sink files: the JSON value of a line (timefilter.json_value), a field of it
(FieldReader) and the key rebuilt from it (replay.record_key), on broken, truncated, non-UTF-8,
deeply nested lines and numbers beyond 64 bits or a double."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kafka_connect_backup.kafka.timefilter import FieldReader, json_value
from kafka_connect_backup.restore.replay import record_key

pytestmark = pytest.mark.fuzz

JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),  # beyond 64 bits too
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def dumps(value: Any) -> bytes:
    """The reference writer: the standard library, strict JSON, UTF-8."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


def reference(line: bytes) -> Any:
    """The reference reader: the standard library, strict (no NaN / Infinity)."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(line.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


@given(value=JSON)
@example(value={"utcTime": "2021-01-19T16:00", "id": 123456789012345678901234567890})
@example(value={"n": 10**400 // 10**380})
def test_a_json_line_reads_back_as_its_value(value: Any) -> None:
    """dump -> read: every JSON document reads back equal (orjson refuses some valid ones,
    which then go through the standard library)."""
    assert json_value(dumps(value)) == value


@given(line=st.one_of(
    st.binary(max_size=60),
    JSON.map(dumps).flatmap(lambda b: st.integers(0, len(b)).map(lambda cut: b[:cut])),
    JSON.map(dumps).map(lambda b: b + b"\xff"),
))  # fmt: skip
@example(line=b'{"utcTime": "2021-01-19T16:00", "n": 1e400}')
@example(line=b'{"a": NaN}')
@example(line=b"[" * 1100 + b"]" * 1100)
@example(line=b"[" * 5000)
@example(line=b'"\\ud800"')
def test_any_line_reads_as_the_standard_library_reads_it(line: bytes) -> None:
    """Broken, cut short, not UTF-8: the value is the strict reference's, or None; never an
    exception. (orjson alone took `1e400` for a broken line, so the record had no time.)"""
    expected = reference(line)
    got = json_value(line)
    assert got == expected or (expected is None and got is None)


@given(value=JSON, field=st.sampled_from(["k", "a.k", "a.b.k"]))
@example(value=2**64, field="k")
@example(value=-(2**63) - 1, field="a.k")
@example(value={"x": 10**30}, field="k")
def test_a_key_field_gives_the_value_as_its_key(value: Any, field: str) -> None:
    """--key-field: a string is its UTF-8, anything else its JSON (which reads back as the
    value), None when absent; an integer beyond 64 bits once raised in orjson.dumps."""
    record: Any = value
    for part in reversed(field.split(".")):
        record = {part: record, "other": 1}
    key = record_key(FieldReader(field), dumps(record))
    if value is None:
        assert key is None
    elif isinstance(value, str):
        assert key == value.encode()
    else:
        assert key is not None and json.loads(key) == value


@given(text=st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3))
@example(text="\ud800")
def test_a_key_with_lone_surrogate_escapes_is_its_wtf8(text: str) -> None:
    """`{"k": "\\ud800"}` is valid JSON that orjson refuses; the key once raised
    UnicodeEncodeError in record_key."""
    line = json.dumps({"k": text}).encode()  # ASCII, the surrogates as \\u escapes
    expected = json.loads(line)["k"]  # a valid pair reads as one character
    assert record_key(FieldReader("k"), line) == expected.encode("utf-8", "surrogatepass")
