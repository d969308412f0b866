"""Reading and writing alert rules from the views API: the rule book this process holds, and writes
to the alert-rules topic (acknowledged by Kafka before they are applied here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from alerting.rulebook import RuleBook
from tenancy.http import AuthError
from tenancy.kafka_log import KeyedLogWriter

RuleIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="The rule's id.")]


def book_of(request: Request) -> RuleBook:
    book: RuleBook | None = request.app.state.rules
    if book is None:
        raise AuthError(503, "alert rules are not available in this views process")
    return book


async def write_rules(request: Request, key: bytes, value: bytes | None) -> None:
    writer: KeyedLogWriter | None = request.app.state.rules_writer
    if writer is None:
        raise AuthError(503, "this views process cannot change alert rules (no rules writer)")
    try:
        offset = await writer.write(key, value)
    except Exception as exc:  # a Kafka error: nothing is known to be saved
        raise AuthError(503, "alert rules unavailable; retry later") from exc
    book: RuleBook | None = request.app.state.rules
    if book is not None:
        book.apply(key, value, offset)
