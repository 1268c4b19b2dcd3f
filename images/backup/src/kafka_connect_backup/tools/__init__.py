"""Thin wrappers around external commands: encfs, gocryptfs, rsnapshot, FUSE mounts."""
