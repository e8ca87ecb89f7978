"""The signed ingest webhook against a real broker and Redis."""

from __future__ import annotations

import json
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from confluent_kafka import Consumer

from core.keys import RedisKeys
from core.settings import KafkaSettings
from feeds.adapters import load
from ingest.app import create_app
from ingest.settings import IngestSettings
from ingest.signature import sign
from local.process import free_port
from local.services import start_broker
from runtime.kafka import consumer_config, ensure_topics
from tests.conftest import ThreadedServer

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

SECRET = secrets.token_urlsafe(32)


def _settings(
    kafka: KafkaSettings, redis_url: str, prefix: str, **changed: float
) -> IngestSettings:
    fields: dict[str, Any] = {
        **kafka.model_dump(),
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "webhook_secret": SECRET,
        "port": free_port(),
        "max_body_bytes": 2 * 1024 * 1024,
        "produce_timeout_seconds": 10.0,
    }
    return IngestSettings(**(fields | changed))


@pytest.fixture
def ingest(kafka: KafkaSettings, redis_service: str, prefix: str) -> Iterator[str]:
    settings = _settings(kafka, redis_service, prefix)
    with ThreadedServer(create_app(settings), settings.port) as server:
        yield server.url


def _signed(body: bytes, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {"Scorecast-Timestamp": str(stamp), "Scorecast-Signature": sign(secret, stamp, body)}


def _count(kafka: KafkaSettings, expected: int) -> int:
    consumer = Consumer(consumer_config(kafka, f"c-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([kafka.events_topic])
    seen = 0
    deadline = time.monotonic() + 20
    try:
        while seen < expected and time.monotonic() < deadline:
            seen += sum(1 for m in consumer.consume(500, 0.5) if m.error() is None)
    finally:
        consumer.close()
    return seen


def test_a_signed_push_lands_on_kafka(ingest: str, kafka: KafkaSettings, nba_file: Path) -> None:
    body = nba_file.read_bytes()
    response = httpx.post(f"{ingest}/v1/ingest/auto", content=body, headers=_signed(body))
    assert response.status_code == 202
    assert response.json() == {
        "game_id": "0022000001",
        "events": 611,
        "added": 611,
        "edited": 0,
        "removed": 0,
        "restored": 0,
        "unchanged": 0,
        "stale": False,
        "unrecognized": 0,
        "refused": [],
    }
    assert _count(kafka, 611) == 611


def test_a_record_the_model_refuses_is_refused_alone_with_its_reason(
    ingest: str, nba_file: Path
) -> None:
    payload = json.loads(nba_file.read_bytes())
    actions = payload["game"]["actions"]
    actions[40] = {**actions[40], "period": 999}
    body = json.dumps(payload).encode()
    response = httpx.post(f"{ingest}/v1/ingest/auto", content=body, headers=_signed(body))
    assert response.status_code == 202, response.text
    summary = response.json()
    assert summary["unrecognized"] == 1
    assert summary["events"] == 610
    [reason] = summary["refused"]
    assert "period" in reason
    assert "less than or equal" in reason


@pytest.fixture
def strict_ingest(kafka: KafkaSettings, redis_service: str, prefix: str) -> Iterator[str]:
    settings = _settings(kafka, redis_service, prefix, body_timeout_seconds=1.0, uploads_at_once=2)
    with ThreadedServer(create_app(settings), settings.port) as server:
        yield server.url


def _begin_upload(url: str, declared: int, sent: bytes) -> socket.socket:
    """A signed push whose body has only begun to arrive."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    headers = "".join(f"{name}: {value}\r\n" for name, value in _signed(b"{}").items())
    sock.sendall(
        f"POST /v1/ingest/auto HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n"
        f"{headers}\r\n".encode()
        + sent
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    return sock.recv(65536)


def test_a_body_that_does_not_arrive_in_time_is_408(strict_ingest: str) -> None:
    with _begin_upload(strict_ingest, 1000, b'{"game": ') as slow:
        assert b" 408 " in _answer(slow).split(b"\r\n")[0]


def test_pushes_past_the_uploads_at_once_are_refused_before_their_body_is_read(
    strict_ingest: str,
) -> None:
    """Forged uploads cost at most ``uploads_at_once`` bodies: the next is 503 on its headers."""
    held = [_begin_upload(strict_ingest, 1024 * 1024, b"x" * 1000) for _ in range(2)]
    try:
        time.sleep(0.3)
        body = b"y" * (1024 * 1024)
        crowded = httpx.post(f"{strict_ingest}/v1/ingest/auto", content=body, headers=_signed(body))
        assert crowded.status_code == 503
        assert crowded.json()["error"]["code"] == "busy"
        assert crowded.headers["retry-after"] == "1"
    finally:
        for sock in held:
            assert b" 408 " in _answer(sock).split(b"\r\n")[0]
            sock.close()
    # Their time is up: a push is read again (and this forged one refused on its signature).
    body = b"z" * 100
    forged = {**_signed(body), "Scorecast-Signature": "v1=" + "0" * 64}
    again = httpx.post(f"{strict_ingest}/v1/ingest/auto", content=body, headers=forged)
    assert again.status_code == 401


def test_a_malformed_content_length_is_400(ingest: str) -> None:
    host, port = ingest.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        headers = "".join(f"{name}: {value}\r\n" for name, value in _signed(b"{}").items())
        sock.sendall(
            f"POST /v1/ingest/auto HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n"
            f"{headers}\r\n{{}}".encode()
        )
        assert b" 400 " in _answer(sock).split(b"\r\n")[0]


def test_records_pushed_again_change_nothing_and_a_whole_document_removes(
    ingest: str, kafka: KafkaSettings, nba_file: Path
) -> None:
    payload = json.loads(nba_file.read_bytes())
    actions = payload["game"]["actions"]
    first = json.dumps({**payload, "game": {**payload["game"], "actions": actions[:300]}}).encode()
    # The provider sends the first 300 again with the next 100 (a new, signed request).
    again = json.dumps({**payload, "game": {**payload["game"], "actions": actions[:400]}}).encode()
    url = f"{ingest}/v1/ingest/nba-livedata"
    assert httpx.post(url, content=first, headers=_signed(first)).json()["added"] == 301
    second = httpx.post(url, content=again, headers=_signed(again)).json()
    assert (second["added"], second["unchanged"], second["events"]) == (100, 301, 100)
    # The whole document, with one made basket taken out after review.
    made = next(i for i, a in enumerate(actions[:400]) if a.get("shotResult") == "Made")
    reviewed = actions[:made] + actions[made + 1 : 400]
    whole = json.dumps({**payload, "game": {**payload["game"], "actions": reviewed}}).encode()
    partial = httpx.post(url, content=whole, headers=_signed(whole, at=int(time.time()) - 1))
    assert (partial.json()["removed"], partial.json()["events"]) == (0, 0)
    removed = httpx.post(f"{url}?complete=true", content=whole, headers=_signed(whole)).json()
    assert (removed["removed"], removed["events"]) == (1, 1)
    assert _count(kafka, 402) == 402


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong secret", 401, "bad_signature"),
        ("no signature", 401, "bad_signature"),
        ("stale", 401, "bad_timestamp"),
        ("future", 401, "bad_timestamp"),
        ("no timestamp", 401, "bad_timestamp"),
        ("tampered body", 401, "bad_signature"),
        ("superscript timestamp", 401, "bad_timestamp"),
        ("endless timestamp", 401, "bad_timestamp"),
        ("malformed signature", 401, "bad_signature"),
        ("unsigned and large", 401, "bad_signature"),
    ],
)
def test_unsigned_stale_or_tampered_pushes_are_refused(
    ingest: str, kafka: KafkaSettings, case: str, status: int, code: str
) -> None:
    body = json.dumps({"game": {"gameId": "g", "actions": []}}).encode()
    headers = {
        "wrong secret": _signed(body, secret="x" * 40),
        "no signature": {"Scorecast-Timestamp": str(int(time.time()))},
        "stale": _signed(body, at=int(time.time()) - 3600),
        "future": _signed(body, at=int(time.time()) + 3600),
        "no timestamp": {"Scorecast-Signature": sign(SECRET, 0, body)},
        "tampered body": _signed(body),
        # "²" is a digit to str.isdigit(), not to int(); sent as its UTF-8 bytes.
        "superscript timestamp": {**_signed(body), "Scorecast-Timestamp": "\u00b2"},
        "endless timestamp": {**_signed(body), "Scorecast-Timestamp": "9" * 5000},
        "malformed signature": {**_signed(body), "Scorecast-Signature": "v1=zz"},
        "unsigned and large": {"Scorecast-Timestamp": str(int(time.time()))},
    }[case]
    sent = body + b" " if case == "tampered body" else body
    if case == "unsigned and large":
        sent = b"x" * (3 * 1024 * 1024)  # refused on its headers, before its size matters
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    response = httpx.post(f"{ingest}/v1/ingest/auto", content=sent, headers=raw)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert SECRET not in response.text


def test_a_replayed_push_is_refused(ingest: str, nba_file: Path) -> None:
    body = nba_file.read_bytes()
    headers = _signed(body)
    assert (
        httpx.post(f"{ingest}/v1/ingest/nba-livedata", content=body, headers=headers).status_code
        == 202
    )
    again = httpx.post(f"{ingest}/v1/ingest/nba-livedata", content=body, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "replayed"


def test_a_push_for_a_retired_game_is_refused_and_not_counted_again(
    ingest: str, nba_file: Path, redis_service: str, prefix: str
) -> None:
    """A finished game that retired has no ledger left: compared with nothing, every record
    would count again. Its feed is closed instead, and a retry once it is open still counts."""
    game_id = load(nba_file).game_id
    keys = RedisKeys(prefix)
    body = nba_file.read_bytes()
    url = f"{ingest}/v1/ingest/nba-livedata"
    with redis.Redis.from_url(redis_service) as sync:
        sync.set(keys.feed_retired(game_id), "1")  # as SnapshotWriter.retire leaves it
        refused = httpx.post(url, content=body, headers=_signed(body))
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "game_retired"
        assert sync.get(keys.feed_next(game_id)) is None  # nothing numbered
        sync.delete(keys.feed_retired(game_id))
    retried = httpx.post(url, content=body, headers=_signed(body))
    assert retried.status_code == 202  # not refused as a replay: the refusal stored nothing


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/ingest/carrier-pigeon", b"{}", 400, "unknown_format"),
        ("/v1/ingest/auto", b"{not json", 400, "not_json"),
        ("/v1/ingest/auto", b'{"events": []}', 422, "unreadable_feed"),
        ("/v1/ingest/nhl-apiweb", b'{"game": {"actions": []}}', 422, "unreadable_feed"),
        ("/v1/ingest/auto", b"x" * (3 * 1024 * 1024), 413, "too_large"),
        ("/v1/ingest/auto", b"[" * 100_000 + b"]" * 100_000, 400, "not_json"),
        (
            "/v1/ingest/nba-livedata",
            b'{"game": {"gameId": "../x", "actions": []}}',
            422,
            "unreadable_feed",
        ),
    ],
)
def test_bad_pushes_get_clear_answers(
    ingest: str, path: str, body: bytes, status: int, code: str
) -> None:
    response = httpx.post(f"{ingest}{path}", content=body, headers=_signed(body), timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_a_push_refused_while_kafka_is_down_is_accepted_when_retried(
    redis_service: str, prefix: str, tmp_path: Path, nba_file: Path
) -> None:
    """Remembered as seen only once Kafka has the events: the provider's identical retry after
    a 503 lands (202), and only a true replay after that is refused (409)."""
    broker, port = start_broker(tmp_path)
    topic = f"events-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(
        kafka_bootstrap=f"127.0.0.1:{port}",
        events_topic=topic,
        dead_letter_topic=f"{topic}.dlq",
        kafka_partitions=1,
    )
    try:
        ensure_topics(kafka)
        settings = _settings(kafka, redis_service, prefix, produce_timeout_seconds=2)
        with ThreadedServer(create_app(settings), settings.port) as server:
            body = nba_file.read_bytes()
            headers = _signed(body)
            url = f"{server.url}/v1/ingest/auto"
            broker.kill()
            down = httpx.post(url, content=body, headers=headers, timeout=30)
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "broker_unavailable"
            broker.start()
            ensure_topics(kafka)  # the broker kept nothing
            retried = httpx.post(url, content=body, headers=headers, timeout=30)
            assert retried.status_code == 202, retried.text
            events = retried.json()["events"]
            again = httpx.post(url, content=body, headers=headers, timeout=30)
            assert again.status_code == 409
            assert again.json()["error"]["code"] == "replayed"
        assert _count(kafka, events) >= events
    finally:
        broker.stop()


def test_a_bad_complete_parameter_is_refused_before_the_request_counts_as_seen(
    ingest: str, nba_file: Path
) -> None:
    body = nba_file.read_bytes()
    headers = _signed(body)
    bad = httpx.post(f"{ingest}/v1/ingest/auto?complete=maybe", content=body, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_parameter"
    # The provider fixes its URL and sends the same signed body: not a replay.
    fixed = httpx.post(f"{ingest}/v1/ingest/auto?complete=true", content=body, headers=headers)
    assert fixed.status_code == 202
