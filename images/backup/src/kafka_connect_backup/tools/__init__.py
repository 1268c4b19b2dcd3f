"""Wrappers of external commands: FUSE mounts, encfs, gocryptfs, rsnapshot, and the encrypted
backup volume built on them (volume.py: password, target checks, mounting its plain view)."""
