"""The supervisor: its backup cycle, the daemon loop, metrics and health."""
