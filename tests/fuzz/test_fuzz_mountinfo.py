"""/proc/self/mountinfo as the kernel writes it (tools/fuse.parse_mountinfo): octal escapes of
space, tab, newline and backslash in the mount point and the source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kafka_connect_backup.tools.fuse import parse_mountinfo

pytestmark = pytest.mark.fuzz


def kernel_escape(path: bytes) -> bytes:
    """What the kernel's seq_file does to a path in mountinfo (show_mountinfo, mangle):
    space, tab, newline and backslash become \\ooo octal; every other byte is written as is."""
    return b"".join(b"\\%03o" % byte if byte in b" \t\n\\" else bytes([byte]) for byte in path)


def mountinfo_line(mount_point: bytes, fs_type: str, source: bytes) -> str:
    raw = (
        b"36 35 98:0 / "
        + kernel_escape(mount_point)
        + b" rw,noatime master:1 - "
        + fs_type.encode()
        + b" "
        + kernel_escape(source)
        + b" rw,errors=continue"
    )
    return os.fsdecode(raw)  # how fuse.mounts() reads the file: UTF-8, surrogateescape


def as_path(raw: bytes) -> Path:
    """The path the OS names by these bytes (as os.path.realpath would give it)."""
    return Path(os.fsdecode(raw))


PATH_BYTES = st.binary(min_size=1, max_size=30).filter(lambda b: b"\x00" not in b)
MOUNT_POINTS = st.one_of(
    PATH_BYTES.map(lambda b: b"/" + b),
    st.text(" \t\n\\a/é0", min_size=1, max_size=20).map(lambda t: ("/" + t).encode()),
)
FS_TYPES = st.sampled_from(["fuse.gocryptfs", "fuse.encfs", "nfs4", "ext4", "tmpfs"])


@given(mount_point=MOUNT_POINTS, fs_type=FS_TYPES, source=PATH_BYTES)
@example(mount_point=b"/mnt/backup nfs", fs_type="fuse.gocryptfs", source=b"/data/enc dir")
@example(mount_point=b"/mnt/\\089", fs_type="nfs4", source=b"server:/x")
@example(mount_point="/mnt/café".encode(), fs_type="fuse.encfs", source=b"encfs")
@example(mount_point=b"/mnt/\xff\xfe", fs_type="tmpfs", source=b"tmpfs")
@example(mount_point=b"/mnt/a\x0bb", fs_type="nfs4", source=b"s")  # splitlines() split there
@example(mount_point="/mnt/a\u2028b".encode(), fs_type="nfs4", source="\x85".encode())
def test_an_escaped_line_gives_back_the_mount_point_as_the_os_names_it(
    mount_point: bytes, fs_type: str, source: bytes
) -> None:
    """kernel escape -> parse: the mount point equals os.fsdecode of its bytes, which is what
    os.path.realpath gives for the same directory (find_mount compares the two). `\\089` (a
    backslash then digits that are no octal escape) and non-ASCII bytes round trip too."""
    mounts = parse_mountinfo(mountinfo_line(mount_point, fs_type, source))
    assert len(mounts) == 1
    mount = mounts[0]
    assert mount.mount_point == as_path(mount_point)
    assert mount.fs_type == fs_type
    assert os.fsencode(mount.source) == source


@given(text=st.text(max_size=200))
@example(text="36 35 98:0 / /mnt\\999 rw - nfs4 x rw")
@example(text="36 35 98:0 / /mnt\\\u0663\u0664\u0665 rw - nfs4 x rw")
@example(text="1 2 3 4 - \n - \n5 6 7 8 9 - a")
def test_any_text_parses_without_error(text: str) -> None:
    """No exception whatever the file holds; a line is either skipped or one Mount."""
    mounts = parse_mountinfo(text)
    assert len(mounts) <= text.count("\n") + 1


@given(lines=st.lists(st.tuples(MOUNT_POINTS, FS_TYPES, PATH_BYTES), max_size=6))
def test_every_line_is_one_mount_in_order(lines: list[tuple[bytes, str, bytes]]) -> None:
    """Stacked mounts keep their order: find_mount takes the last one at a path."""
    text = "\n".join(mountinfo_line(*line) for line in lines)
    mounts = parse_mountinfo(text)
    assert [m.mount_point for m in mounts] == [as_path(mp) for mp, _, _ in lines]
