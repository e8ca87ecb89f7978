"""Firebase Cloud Messaging HTTP v1 as Google documents it, for the sender's tests and the local
stack: an OAuth 2.0 token endpoint for service accounts (a JWT-bearer assertion, RS256, signed
with the account's key, ``aud`` Google's token URL, the messaging scope) and ``messages:send``
with its error shapes (``{"error": {"code", "message", "status", "details": [{"errorCode"}]}}``)
and the project's quota (429 ``QUOTA_EXCEEDED`` with ``Retry-After`` past it)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.standins.http2 import Answer
from local.standins.tally import Tally

#: The audience google-auth puts in every service-account assertion.
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


_JSON = [("content-type", "application/json; charset=UTF-8")]


def _error(
    status: int, state: str, message: str, code: str | None = None, retry_after: str = ""
) -> Answer:
    error: dict[str, Any] = {"code": status, "message": message, "status": state}
    if code:
        error["details"] = [{"@type": _TYPE, "errorCode": code}]
    headers = [*_JSON, ("retry-after", retry_after)] if retry_after else _JSON
    return status, headers, json.dumps({"error": error}).encode()


@dataclass
class FcmStandIn:
    """Firebase for one project and its one service account (``client_email``, public key)."""

    project_id: str
    client_email: str
    public_key_pem: str
    #: Registration tokens it knows; unregistered ones answer 404 UNREGISTERED.
    devices: set[str] = field(default_factory=set)
    unregistered: set[str] = field(default_factory=set)
    #: Messages a minute the project may send (FCM's default: 600,000).
    per_minute: int = 600_000
    token_seconds: int = 3600
    #: Per registration token: each message taken, in order.
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    next_answers: list[int] = field(default_factory=list)
    tokens_made: int = 0
    delay_seconds: float = 0.0
    #: Any token is a device (a benchmark's), bar the unregistered and the ``final`` ones,
    #: which Firebase refuses as not valid (a final error).
    accept_any: bool = False
    final: set[str] = field(default_factory=set)
    tally: Tally = field(default_factory=Tally)
    _tokens: dict[str, float] = field(default_factory=dict)
    _minute: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        # The token endpoint (HTTP/1.1, where google-auth's transport goes); messages go to
        # ``handle`` on an HTTP/2 listener (:func:`local.standins.http2.serve`).
        self.app = Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    def expire_tokens(self) -> None:
        """Every access token made so far is refused from now on."""
        self._tokens.clear()

    async def token(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        grant = form.get("grant_type", [""])[0]
        assertion = form.get("assertion", [""])[0]
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(
                assertion,
                self.public_key_pem,
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_URL,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.InvalidTokenError as exc:
            self.refused.append(f"assertion: {exc}")
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(exc)}, status_code=400
            )
        if claims["iss"] != self.client_email or SCOPE not in str(claims.get("scope", "")).split():
            self.refused.append("assertion: wrong account or scope")
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        access = "ya29." + secrets.token_urlsafe(32)
        self._tokens[access] = time.time() + self.token_seconds
        self.tokens_made += 1
        return JSONResponse(
            {"access_token": access, "expires_in": self.token_seconds, "token_type": "Bearer"}
        )

    def _over_quota(self) -> bool:
        minute = int(time.time() // 60)
        seen, count = self._minute
        count = count + 1 if seen == minute else 1
        self._minute = (minute, count)
        return count > self.per_minute

    async def handle(self, headers: dict[str, str], body: bytes) -> Answer:
        """``POST /v1/projects/{project}/messages:send``, answered as Firebase does."""
        if self.next_answers:
            status = self.next_answers.pop(0)
            state = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}.get(status, "UNAVAILABLE")
            return _error(status, state, "try again later", retry_after="0")
        found_path = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", headers.get(":path", ""))
        if headers.get(":method") != "POST" or found_path is None:
            return _error(404, "NOT_FOUND", "no such method")
        scheme, _, access = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or self._tokens.get(access, 0) < time.time():
            self.refused.append("UNAUTHENTICATED")
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if found_path.group(1) != self.project_id:
            return _error(403, "PERMISSION_DENIED", "wrong project", "SENDER_ID_MISMATCH")
        if self._over_quota():
            self.refused.append("QUOTA_EXCEEDED")
            wait = str(60 - int(time.time()) % 60)
            return _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED", wait)
        problem, found = self._message(body)
        if problem:
            self.refused.append(problem)
            return _error(400, "INVALID_ARGUMENT", problem, "INVALID_ARGUMENT")
        assert found is not None
        token = str(found["token"])
        self.tally.attempt(token)
        if token in self.unregistered:
            self.refused.append("UNREGISTERED")
            return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        if token in self.final or (token not in self.devices and not self.accept_any):
            self.refused.append("bad token")
            return _error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                "INVALID_ARGUMENT",
            )
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        self.received.setdefault(token, []).append(found)
        self.tally.take(token)
        name = f"projects/{self.project_id}/messages/{secrets.token_hex(8)}"
        return 200, _JSON, json.dumps({"name": name}).encode()

    @staticmethod
    def _message(body: bytes) -> tuple[str, dict[str, Any] | None]:
        try:
            found = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            return "body is not {message: {...}}", None
        if not isinstance(found, dict) or not isinstance(found.get("token"), str):
            return "message.token missing", None
        data = found.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return "data values must be strings", None
        if len(json.dumps(found).encode()) > 4096:
            return "Message is too big", None
        android = found.get("android", {})
        if len(str(android.get("collapse_key", ""))) > 64:
            return "collapse_key too long", None
        return "", found
