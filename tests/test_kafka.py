"""How every Scorecast consumer reads from the broker (``runtime.kafka``), against the real one."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from core.settings import KafkaSettings
from runtime.kafka import consumer_config, producer_config

pytestmark = pytest.mark.stack

_BATCH = 400


def _produce(producer: Producer, topic: str) -> None:
    for number in range(_BATCH):
        producer.produce(topic, value=b"%06d" % number + b"." * 200, partition=0)
    assert producer.flush(10) == 0


def test_a_consumer_reads_ahead_no_more_than_one_fetch_of_what_its_service_has_not_taken(
    kafka: KafkaSettings,
) -> None:
    """A busy service (events fetched, not taken yet) is not fetched for again and again: the
    local broker's every fetch lists all it stores. librdkafka alone reads ahead up to 100,000
    messages."""
    producer = Producer(producer_config(kafka))
    consumer = Consumer(consumer_config(kafka, f"ahead-{uuid.uuid4().hex[:8]}"))
    consumer.assign([TopicPartition(kafka.events_topic, 0, 0)])
    try:
        producer.produce(kafka.events_topic, value=b"first", partition=0)
        assert producer.flush(10) == 0
        first = consumer.poll(10)
        assert first is not None
        assert first.value() == b"first"
        # The service has taken all there was; two batches arrive while it is busy.
        # (Its consumer fetches every 50 ms at the latest: two seconds leave it ample time.)
        _produce(producer, kafka.events_topic)
        time.sleep(2.0)
        _produce(producer, kafka.events_topic)
        time.sleep(1.0)
        held = consumer.consume(5 * _BATCH, 0)  # only what it holds already
        # The first batch (or the part of it one fetch found), not the second.
        assert 0 < len(held) <= _BATCH
        # The rest is fetched once the service has taken what it held.
        deadline = time.monotonic() + 10
        while len(held) < 2 * _BATCH and time.monotonic() < deadline:
            held += consumer.consume(_BATCH, 0.5)
        assert [int((m.value() or b"")[:6]) for m in held] == [*range(_BATCH), *range(_BATCH)]
    finally:
        consumer.close()
