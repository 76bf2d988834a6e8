"""The API's view of HTTP: a request, a reply, an error with one sentence, and the routes.

Endpoint modules register handlers with @route(METHOD, REGEX); a handler gets the Api state,
the request and the regex groups, and returns a Reply or raises ApiError. The server has
already checked Host, the launch secret and Origin before anything here runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

MAX_JSON_BYTES = 1 << 20


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    length: int
    body_stream: BinaryIO

    def body(self, limit: int) -> bytes:
        if self.length > limit:
            raise ApiError(413, f"the upload is too large (over {limit // (1 << 20)} MB).")
        return self.body_stream.read(self.length)

    def json(self) -> dict:
        try:
            data = json.loads(self.body(MAX_JSON_BYTES) or b"{}")
        except ValueError:
            raise ApiError(400, "the request body is not JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object.")
        return data

    def save_body(self, target: Path, limit: int) -> None:
        """Stream the body into target (for uploads too big to hold in memory)."""
        if self.length > limit:
            raise ApiError(413, f"the upload is too large (over {limit // (1 << 20)} MB).")
        remaining = self.length
        with open(target, "wb") as f:
            while remaining:
                chunk = self.body_stream.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ApiError(400, "the upload ended early.")
                f.write(chunk)
                remaining -= len(chunk)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(obj).encode(), "application/json")


Handler = Callable[..., Reply]
ROUTES: list[tuple[str, re.Pattern, Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern), fn))
        return fn
    return register


def find_route(method: str, path: str) -> tuple[Handler, tuple[str, ...]] | None:
    for m, pattern, fn in ROUTES:
        if m == method and (match := pattern.fullmatch(path)):
            return fn, match.groups()
    return None


def query_int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number.") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}.")
    return value


