"""`make bench`: the benchmarks of design §7, run against the real local stack.

Each module measures one thing side by side in one run and returns a `Section` (numbers,
ratios, notes); `scripts/bench.py` runs them, prints the tables and writes docs/benchmarks.md.
A benchmark never asserts on wall time.
"""
