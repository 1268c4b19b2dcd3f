"""The send's hot loop (RecordProducer.send_values): every value produced once, in order,
whenever the local queue fills up, and the sent count exact."""

from typing import Any

import pytest

from kafka_connect_backup.kafka.client import KafkaConnection
from kafka_connect_backup.kafka.producer import RecordProducer

pytestmark = pytest.mark.unit


class FullQueueProducer:
    """A stand-in for confluent_kafka.Producer whose queue is full at the given produce
    calls (counted from 1, every call, retries included)."""

    def __init__(self, full_at: set[int]) -> None:
        self.full_at = full_at
        self.calls = 0
        self.produced: list[tuple[str, bytes]] = []
        self.polls: list[float] = []

    def produce(self, topic: str, value: bytes, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls in self.full_at:
            raise BufferError("Local: Queue full")
        self.produced.append((topic, value))

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0


def producer_with(fake: FullQueueProducer) -> RecordProducer:
    producer = RecordProducer(KafkaConnection("127.0.0.1:1"), "restored")
    producer._producer = fake  # type: ignore[assignment]
    return producer


@pytest.mark.parametrize(
    ("full_at", "waits"),
    [
        (set(), 0),
        ({1}, 1),  # the first value
        ({5, 6, 7}, 3),  # one value refused three times
        ({3, 9}, 2),  # two values
        ({10}, 1),  # the last value
        ({11}, 0),  # a call after the last value: never made
    ],
)
def test_every_value_is_produced_once_in_order(full_at, waits):
    values = [f"v{i}".encode() for i in range(10)]
    fake = FullQueueProducer(full_at)
    producer = producer_with(fake)
    producer.send_values(values)
    assert fake.produced == [("restored", v) for v in values]
    assert producer.counter.sent == 10
    # One wait (poll 0.05) per refused call, then the poll that serves the reports.
    assert fake.polls == [0.05] * waits + [0]


def test_sent_counts_add_up_over_segments():
    fake = FullQueueProducer({2})
    producer = producer_with(fake)
    producer.send_values([b"a", b"b"])
    producer.send_values([])
    producer.send_values([b"c"])
    assert [v for _, v in fake.produced] == [b"a", b"b", b"c"]
    assert producer.counter.sent == 3
