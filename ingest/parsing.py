"""Reading a request body into validated events (pure: no I/O)."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import AnyEvent, describe_validation_error, parse_event


class BodyError(ValueError):
    """The body as a whole cannot be read; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Rejected:
    """One event that failed validation."""

    index: int
    event_id: str | None
    error: str


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body without its gzip encoding, refusing more than `limit` bytes (413)."""
    if content_encoding in (None, "", "identity"):
        if len(body) > limit:
            raise BodyError(413, f"body is larger than {limit} bytes")
        return body
    if content_encoding.lower() != "gzip":
        raise BodyError(415, f"unsupported Content-Encoding {content_encoding!r}; use gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from exc
    if len(out) > limit:
        raise BodyError(413, f"decompressed body is larger than {limit} bytes")
    return out


def decode_documents(body: bytes, ndjson: bool) -> list[Any]:
    """A JSON array (or one object) or NDJSON lines as a list of decoded documents (400 if malformed)."""
    if ndjson:
        docs = []
        for lineno, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                docs.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise BodyError(400, f"malformed JSON on line {lineno}: {exc}") from exc
        return docs
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"malformed JSON: {exc}") from exc
    return doc if isinstance(doc, list) else [doc]


def validate_events(docs: list[Any], default_tenant: str | None = None) -> tuple[list[AnyEvent], list[Rejected]]:
    """Split documents into valid events and per-index rejections naming the field and reason.

    An object without `tenant_id` gets `default_tenant` (the sending key's tenant) when given.
    """
    accepted: list[AnyEvent] = []
    rejected: list[Rejected] = []
    for index, doc in enumerate(docs):
        event_id = doc.get("event_id") if isinstance(doc, dict) else None
        if default_tenant is not None and isinstance(doc, dict) and "tenant_id" not in doc:
            doc["tenant_id"] = default_tenant
        try:
            accepted.append(parse_event(doc))
        except ValidationError as exc:
            rejected.append(
                Rejected(index, event_id if isinstance(event_id, str) else None, describe_validation_error(exc))
            )
    return accepted, rejected
