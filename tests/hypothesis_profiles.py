"""Hypothesis profiles for every property test (the fuzz tier, tests/fuzz/, and the few
properties of tests/unit/), loaded by tests/conftest.py.

- `ci` (the default): reproducible and bounded. `derandomize` draws the same examples on
  every run, from a seed derived from each test; no example database is read or written;
  `max_examples` 150; no deadline and no too_slow health check, because this machine is shared
  and a test never asserts on wall time.
- `fuzz`: a longer local hunt, random each run, with an example database in
  .tools/hypothesis/ so that a failure found once is replayed first by the next run.

    KCB_HYPOTHESIS_PROFILE=fuzz KCB_FUZZ_EXAMPLES=20000 pytest tests/fuzz

`KCB_FUZZ_EXAMPLES` sets max_examples for either profile (fuzz: 5000 by default).
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILE_ENV = "KCB_HYPOTHESIS_PROFILE"
EXAMPLES_ENV = "KCB_FUZZ_EXAMPLES"
_DATABASE = Path(__file__).resolve().parents[1] / ".tools" / "hypothesis"


def _examples(default: int) -> int:
    return int(os.environ.get(EXAMPLES_ENV, default))


def load_profile() -> str:
    """Register both profiles and load the one KCB_HYPOTHESIS_PROFILE names (default ci)."""
    settings.register_profile(
        "ci",
        derandomize=True,
        database=None,
        max_examples=_examples(150),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
    settings.register_profile(
        "fuzz",
        derandomize=False,
        database=DirectoryBasedExampleDatabase(str(_DATABASE)),
        max_examples=_examples(5000),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
    name = os.environ.get(PROFILE_ENV, "ci")
    settings.load_profile(name)
    return name
