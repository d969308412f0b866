"""Builders of wire-format events for tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


def llm_call(tenant_id: str, ts: datetime, **overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": str(uuid.uuid4()),
        "type": "llm_call",
        "tenant_id": tenant_id,
        "timestamp": ts.isoformat(),
        "session_id": "s-1",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 500,
        "latency_ms": 420,
        "status": "ok",
    }
    event.update(overrides)
    return event


def message(tenant_id: str, ts: datetime, **overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": str(uuid.uuid4()),
        "type": "message",
        "tenant_id": tenant_id,
        "timestamp": ts.isoformat(),
        "session_id": "s-1",
        "role": "user",
    }
    event.update(overrides)
    return event
