"""The ingest webhook: providers push feed payloads, Scorecast puts their events on Kafka.

``POST /v1/ingest/{format}`` (a format name, or ``auto``; ``?complete=true`` when the body is
the game's whole document, so a record missing from it was removed; otherwise a push of some
records, which removes nothing). A request is accepted only when its
signature is valid, its timestamp within the tolerance of our clock, and it was not accepted
before (its signature is remembered in Redis for twice the tolerance once Kafka has its events):
a captured request cannot be replayed, and a push answered 503 can be retried as it was. The
payload goes through the same adapters as ``scorecast replay`` and the same ledger as the
poller: records are known by the provider's own ids, so one sent again changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.connection import redis_client, translated
from core.errors import FeedFormatError, GameRetiredError, NotJsonError
from core.keys import RedisKeys
from feeds.adapters import FORMATS, decode, parse
from feeds.intake import BrokerUnavailableError, FeedIntake
from feeds.ledger import FeedLedger
from ingest.settings import IngestSettings
from ingest.signature import SCHEME, valid
from runtime.http_errors import HANDLERS, ApiError
from runtime.http_server import HttpServer
from runtime.kafka import ensure_topics, producer_config
from runtime.metrics import exporting


class IngestMetrics:
    """What the webhook took and refused (by the code of the refusal), on its private listener
    (:mod:`runtime.metrics`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "scorecast_ingest_requests",
            "Provider pushes answered: accepted, or refused by the code of the refusal.",
            ["outcome"],
            registry=self.registry,
        )
        self.records = Counter(
            "scorecast_ingest_records",
            "Records of accepted pushes, by what they were to the feed's ledger.",
            ["change"],
            registry=self.registry,
        )


@dataclass(frozen=True)
class IngestState:
    settings: IngestSettings
    redis: Redis
    keys: RedisKeys
    intake: FeedIntake
    metrics: IngestMetrics
    uploads: asyncio.Semaphore


def create_app(settings: IngestSettings) -> Starlette:
    metrics = IngestMetrics()
    uploads = asyncio.Semaphore(settings.uploads_at_once)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redis = redis_client(settings)
        producer = Producer(producer_config(settings))
        keys = RedisKeys(settings.redis_prefix)
        ledger = FeedLedger(redis, keys)
        intake = FeedIntake(ledger, producer, settings, settings.produce_timeout_seconds)

        async def unready() -> str | None:
            await redis.ping()
            return None

        try:
            async with exporting(metrics.registry, settings, unready):
                yield {"ingest": IngestState(settings, redis, keys, intake, metrics, uploads)}
        finally:
            await asyncio.to_thread(producer.flush, 10)
            await redis.aclose()

    return Starlette(
        routes=[Route("/v1/ingest/{format}", counted, methods=["POST"])],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )


_NUMBER = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(re.escape(SCHEME) + r"[0-9a-f]{64}")


async def counted(request: Request) -> Response:
    metrics = request.state.ingest.metrics
    try:
        response = await receive(request)
    except ApiError as refused:
        metrics.requests.labels(refused.code).inc()
        raise
    except Exception:
        metrics.requests.labels("error").inc()
        raise
    metrics.requests.labels("accepted").inc()
    return response


async def receive(request: Request) -> Response:
    state: IngestState = request.state.ingest
    settings = state.settings
    name = request.path_params["format"]
    if name != "auto" and name not in FORMATS:
        raise ApiError(400, "unknown_format", f"known formats: auto, {', '.join(FORMATS)}")
    complete = request.query_params.get("complete", "false")
    if complete not in ("true", "false"):
        raise ApiError(400, "bad_parameter", "complete must be true or false")
    # Everything that can be checked before the body is read is checked first: an unsigned or
    # stale upload costs nothing but its headers.
    stamp = request.headers.get("scorecast-timestamp", "")
    signature = request.headers.get("scorecast-signature", "")
    if not _NUMBER.fullmatch(stamp) or abs(time.time() - int(stamp)) > settings.tolerance_seconds:
        raise ApiError(401, "bad_timestamp", "Scorecast-Timestamp missing, stale or in the future")
    if not _SIGNATURE.fullmatch(signature):
        raise ApiError(401, "bad_signature", "Scorecast-Signature missing or malformed")
    declared = request.headers.get("content-length", "")
    if _NUMBER.fullmatch(declared) is None and declared:
        raise ApiError(400, "bad_length", "Content-Length must be a number")
    if declared and int(declared) > settings.max_body_bytes:
        raise ApiError(413, "too_large", f"at most {settings.max_body_bytes} bytes")
    if state.uploads.locked():
        raise ApiError(503, "busy", "too many pushes arriving at once; retry", {"Retry-After": "1"})
    try:
        async with state.uploads, asyncio.timeout(settings.body_timeout_seconds):
            body = await _read(request, settings.max_body_bytes)
    except TimeoutError:
        raise ApiError(408, "slow_body", "the body did not arrive in time") from None
    if not valid(settings.webhook_secret.get_secret_value(), int(stamp), body, signature):
        raise ApiError(401, "bad_signature", "Scorecast-Signature does not match")
    try:
        feed = parse(decode(body), None if name == "auto" else name)
    except NotJsonError as exc:
        raise ApiError(400, "not_json", f"the body: {exc}") from exc
    except FeedFormatError as exc:
        raise ApiError(422, "unreadable_feed", str(exc)) from exc
    seen = state.keys.ingest_seen(signature)
    if not await _claim(state, seen):
        raise ApiError(409, "replayed", "this request was already received")
    try:
        changes = await state.intake.take(feed, complete == "true")
    except BaseException as exc:
        # Not stored: the provider's identical retry must be accepted, not refused as a replay.
        await _forget(state, seen)
        if isinstance(exc, BrokerUnavailableError):
            raise ApiError(
                503, "broker_unavailable", "events not stored; retry", {"Retry-After": "1"}
            ) from exc
        if isinstance(exc, GameRetiredError):
            raise ApiError(409, "game_retired", str(exc)) from exc
        raise
    await _remember(state, seen, stamp)
    for change in ("added", "edited", "removed", "restored", "unchanged", "stale"):
        state.metrics.records.labels(change).inc(getattr(changes, change))
    summary = {
        "game_id": feed.game_id,
        "events": len(changes.events),
        "added": changes.added,
        "edited": changes.edited,
        "removed": changes.removed,
        "restored": changes.restored,
        "unchanged": changes.unchanged,
        "stale": changes.stale,
        "unrecognized": feed.unrecognized,
        "refused": feed.refused,
    }
    return JSONResponse(summary, status_code=202)


# A request is remembered by its signature, in two steps: while its events are being produced
# (so an identical request meanwhile is refused, for no longer than a produce can take), then,
# once Kafka acknowledged them, for twice the timestamp tolerance (after which its timestamp is
# refused anyway). A request whose events were not stored is forgotten.


@translated
async def _claim(state: IngestState, seen: str) -> bool:
    hold = math.ceil(state.settings.produce_timeout_seconds) + 5
    return bool(await state.redis.set(seen, "producing", nx=True, ex=hold))


@translated
async def _remember(state: IngestState, seen: str, stamp: str) -> None:
    await state.redis.set(seen, stamp, ex=2 * state.settings.tolerance_seconds)


@translated
async def _forget(state: IngestState, seen: str) -> None:
    await state.redis.delete(seen)


async def _read(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class IngestService(HttpServer):
    """The webhook as a service (see :mod:`runtime.lifecycle`)."""

    def __init__(self, settings: IngestSettings) -> None:
        super().__init__(
            create_app(settings),
            settings.host,
            settings.port,
            settings.drain_seconds,
            limits=settings,
        )
        self.settings = settings

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        await super().start(resources)
        await asyncio.to_thread(ensure_topics, self.settings)
