"""Kafka's default partitioner for keyed records, as the Java client computes it
(`Utils.toPositive(Utils.murmur2(key)) % partitions`), so a restore by key puts each key where
a Java producer (and Kafka Streams) would look for it. librdkafka's own default
(consistent_random, CRC32) would not; its `murmur2_random` matches this for non-null keys."""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of `data`, as an unsigned 32-bit integer."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for index in range(0, whole, 4):
        k = int.from_bytes(data[index : index + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def signed(value: int) -> int:
    """The Java int of an unsigned 32-bit value (what Kafka's tests list)."""
    return value - (1 << 32) if value & 0x80000000 else value


def key_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions
