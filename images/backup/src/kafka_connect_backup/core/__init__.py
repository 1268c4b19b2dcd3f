"""The ground floor, imported by everything and importing nothing of the package but itself:
errors (the operator's cause and fix) and every exit code, units (sizes, durations, UTC times)
in messages and records, durable file writes, the record store of the small JSON files
(records.py), logging, the shutdown grace, what a process's status says, and the config's basic
types."""
