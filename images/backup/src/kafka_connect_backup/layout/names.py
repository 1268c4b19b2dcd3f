"""Where rsnapshot puts things (tools/rsnapshot.py renders its config from these), for the
readers of snapshots that need not import the runner and its logging."""

LEVEL = "alpha"
HOST_DIR = "localhost"  # `backup {source} localhost/`: alpha.N/localhost/{file}
# `sync_first 1`: `rsnapshot sync` updates `.sync/localhost/`, then `rsnapshot alpha` rotates
# and hard-links `.sync` as alpha.0. Not a snapshot: no listing shows it.
SYNC_DIR = ".sync"
# What rsnapshot.conf includes (the original chart's rules, and each topic's metadata file,
# kafka/topic_metadata.py): `*.sink`, `*.gz` and `*.topic.json` directly in the source directory,
# nothing below it.
BACKED_UP_PATTERNS = ("*.sink", "*.gz", "*.topic.json")
