"""The ground floor, imported by everything and importing nothing of the package but itself:
errors (the operator's cause and fix) and restore's exit codes, units (sizes, durations, UTC
times) in messages and records, durable file writes, logging, the shutdown grace, what a
process's status says, and the config's basic types."""
