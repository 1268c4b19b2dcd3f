"""Wrappers of external commands: the one command runner every subprocess goes through
(run.py: stdin, output, timeout, the shutdown grace, stopping), FUSE mounts, encfs, gocryptfs,
rsnapshot, and the encrypted backup volume built on them (volume.py: password, target checks,
mounting its plain view)."""
