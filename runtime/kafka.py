"""Kafka client configuration and topic setup shared by the replay, publisher and tests."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from core.errors import ServiceError
from core.models import GameEvent
from core.settings import KafkaSettings

logger = logging.getLogger("scorecast.kafka")


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    # Idempotent: a retried send never duplicates or reorders a game's events.
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "enable.idempotence": True,
        # A few milliseconds gathering a match day's events into one request halve what the
        # broker spends on each (``kafka_linger_ms``).
        "linger.ms": settings.kafka_linger_ms,
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
        # Read ahead one fetch, no more: a partition whose events the service has not taken
        # yet is fetched again only after the backoff (``kafka_fetch_backoff_ms``).
        "queued.min.messages": 1,
        "fetch.queue.backoff.ms": settings.kafka_fetch_backoff_ms,
    }


def event_message(event: GameEvent) -> tuple[bytes, bytes]:
    """Key and value of an event on the events topic, stamped with when it entered."""
    stamped = event.model_copy(update={"ingested_at": datetime.now(UTC)})
    return event.game_id.encode(), stamped.model_dump_json(exclude_none=True).encode()


class Delivery:
    """Messages handed to a producer, and whether Kafka acknowledged every one: the one way
    Scorecast produces (events, schedules, dead letters)."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        #: Why messages were refused, as Kafka said it (delivery reports arrive as the producer
        #: is polled).
        self.failures: list[str] = []

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        self.producer.produce(
            topic, key=key, value=value, headers=headers, on_delivery=self._delivered
        )
        self.producer.poll(0)

    def send_event(self, topic: str, event: GameEvent) -> None:
        key, value = event_message(event)
        self.send(topic, key, value)

    def wait(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for every message sent; the number not delivered (refused
        or still waiting)."""
        remaining = self.producer.flush(timeout)
        return remaining + len(self.failures)

    def check(self, timeout: float, what: str) -> None:
        """:meth:`wait`, raising :class:`ServiceError` unless every message was delivered."""
        missing = self.wait(timeout)
        if missing:
            raise ServiceError(f"{what}: {missing} not delivered, errors: {self.failures[:3]}")

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failures.append(str(error))


def deliver(producer: Producer, topic: str, events: list[GameEvent], timeout: float) -> bool:
    """Produce ``events`` and wait up to ``timeout`` s: True once Kafka acknowledged them all."""
    delivery = Delivery(producer)
    for event in events:
        delivery.send_event(topic, event)
    return delivery.wait(timeout) == 0


def ensure_topics(settings: KafkaSettings, others: tuple[str, ...] = ()) -> None:
    """Create the events and dead-letter topics (and ``others``) unless they exist, with
    ``kafka_partitions`` each."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    problem = _create_topics(admin, settings, others)
    # The client's threads stop once it is gone: an error raised while it is in scope would
    # keep it (and them) alive in the traceback.
    del admin
    if problem is not None:
        raise ServiceError(problem)


def _create_topics(
    admin: AdminClient, settings: KafkaSettings, others: tuple[str, ...]
) -> str | None:
    partitions = settings.kafka_partitions
    timeout = settings.kafka_admin_timeout_seconds
    wanted = [settings.events_topic, settings.dead_letter_topic, *others]
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        return f"broker at {settings.kafka_bootstrap} did not answer: {exc}"
    held = existing.get(settings.events_topic)
    if held is not None and len(held.partitions) != partitions:
        # Kept as it is: adding partitions would move games to others mid-game, and their
        # events out of order.
        logger.warning(
            "topic %s has %d partitions, not the %d configured: kept as it is",
            settings.events_topic, len(held.partitions), partitions,
        )  # fmt: skip
    missing = [NewTopic(name, num_partitions=partitions) for name in wanted if name not in existing]
    if not missing:
        return None
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            return f"cannot create topic {name}: {exc}"
    return None
