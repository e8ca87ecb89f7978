"""Kafka client configuration and topic setup shared by the replay, publisher and tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from core.errors import ServiceError
from core.models import GameEvent
from core.settings import KafkaSettings


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    # Idempotent: a retried send never duplicates or reorders a game's events.
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "enable.idempotence": True,
        # A score change waits for nobody: the feed is small, latency is what counts.
        "linger.ms": 0,
    }


def consumer_config(settings: KafkaSettings, group_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": settings.kafka_heartbeat_interval_ms,
        "fetch.wait.max.ms": settings.kafka_fetch_wait_max_ms,
    }


def event_message(event: GameEvent) -> tuple[bytes, bytes]:
    """Key and value of an event on the events topic, stamped with when it entered."""
    stamped = event.model_copy(update={"ingested_at": datetime.now(UTC)})
    return event.game_id.encode(), stamped.model_dump_json(exclude_none=True).encode()


def deliver(producer: Producer, topic: str, events: list[GameEvent], timeout: float) -> bool:
    """Produce ``events`` and wait up to ``timeout`` s: True once Kafka acknowledged them all."""
    failed: list[KafkaError] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failed.append(error)

    for event in events:
        key, value = event_message(event)
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
        producer.poll(0)
    return producer.flush(timeout) == 0 and not failed


def ensure_topics(settings: KafkaSettings, partitions: int = 6, timeout: float = 10.0) -> None:
    """Create the events and dead-letter topics unless they exist."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    wanted = [settings.events_topic, settings.dead_letter_topic]
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise ServiceError(f"broker at {settings.kafka_bootstrap} did not answer: {exc}") from exc
    missing = [NewTopic(name, num_partitions=partitions) for name in wanted if name not in existing]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise ServiceError(f"cannot create topic {name}: {exc}") from exc
