"""How every Scorecast consumer reads from the broker (``runtime.kafka``), against the real one."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from core.settings import KafkaSettings
from runtime.kafka import consumer_config, ensure_topics, producer_config

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


def _partitions(kafka: KafkaSettings) -> dict[str, int]:
    admin = AdminClient({"bootstrap.servers": kafka.kafka_bootstrap})
    topics = admin.list_topics(timeout=10).topics
    wanted = (kafka.events_topic, kafka.dead_letter_topic)
    return {name: len(topics[name].partitions) for name in wanted if name in topics}


def test_topics_are_created_with_the_configured_partitions_and_an_existing_one_is_kept(
    kafka: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """The ``kafka`` fixture created its topics from ``kafka_partitions`` (3). Asked for more
    later, the events topic keeps its own, and the operator is told: more partitions would
    move games between them mid-game."""
    assert _partitions(kafka) == {kafka.events_topic: 3, kafka.dead_letter_topic: 3}
    more = kafka.model_copy(update={"kafka_partitions": 12})
    with caplog.at_level(logging.WARNING, logger="scorecast.kafka"):
        ensure_topics(more)
    assert _partitions(kafka) == {kafka.events_topic: 3, kafka.dead_letter_topic: 3}
    assert f"topic {kafka.events_topic} has 3 partitions, not the 12 configured" in caplog.text
    # A new topic takes the number configured.
    name = f"events-{uuid.uuid4().hex[:8]}"
    fresh = more.model_copy(update={"events_topic": name, "dead_letter_topic": f"{name}.dlq"})
    ensure_topics(fresh)
    assert _partitions(fresh) == {name: 12, f"{name}.dlq": 12}
