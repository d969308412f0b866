"""Demo traffic: chat sessions of tenant `demo` sent through the ingest API.

`tallystream-demo --rate 50` sends about 50 events a second to $TALLY_INGEST_URL until stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

#: (provider, model, typical input tokens, typical output tokens); the last one has no price on purpose.
MODELS = (
    ("openai", "gpt-4o-mini", 1200, 300),
    ("openai", "gpt-4o", 2500, 500),
    ("anthropic", "claude-3-5-haiku-latest", 1500, 400),
    ("groq", "llama-3.1-8b-instant", 900, 250),
    ("openai", "in-house-finetune-v0", 800, 200),
)
FEATURES = ("chat", "product_search", "recommendation")
DOMAINS = ("shop.example.com", "m.shop.example.com")


def session_events(tenant_id: str, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """One short chat session: alternating messages, an LLM call per assistant turn."""
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    user = f"user-{rng.randrange(500)}"
    weights = (50, 10, 20, 18, 2)
    events: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 4)):
        base = {"tenant_id": tenant_id, "session_id": session_id, "timestamp": now.isoformat()}
        events.append(
            {
                **base,
                "event_id": str(uuid.uuid4()),
                "type": "message",
                "role": "user",
                "content_chars": rng.randint(10, 400),
            }
        )
        provider, model, tin, tout = rng.choices(MODELS, weights)[0]
        input_tokens = max(1, int(rng.gauss(tin, tin / 4)))
        output_tokens = max(1, int(rng.gauss(tout, tout / 4)))
        failed = rng.random() < 0.03
        events.append(
            {
                **base,
                "event_id": str(uuid.uuid4()),
                "type": "llm_call",
                "provider": provider,
                "model": model,
                "input_tokens": input_tokens,
                "output_tokens": 0 if failed else output_tokens,
                "cached_input_tokens": input_tokens // 3 if rng.random() < 0.4 else 0,
                "latency_ms": rng.randint(200, 4000),
                "status": "error" if failed else "ok",
                **({"error_type": "rate_limited"} if failed else {}),
                "feature": rng.choice(FEATURES),
                "end_user_id": user,
                "domain": rng.choice(DOMAINS),
            }
        )
        events.append(
            {
                **base,
                "event_id": str(uuid.uuid4()),
                "type": "message",
                "role": "assistant",
                "content_chars": rng.randint(50, 1200),
            }
        )
    return events


async def run(ingest_url: str, tenant_id: str, rate: float, stop: asyncio.Event) -> int:
    """Send about `rate` events a second until `stop` is set; returns how many were accepted."""
    rng = random.Random()
    sent = 0
    async with httpx.AsyncClient(base_url=ingest_url, timeout=15) as client:
        while not stop.is_set():
            batch: list[dict[str, Any]] = []
            now = datetime.now(UTC)
            while len(batch) < max(1, int(rate)):
                batch.extend(session_events(tenant_id, rng, now))
            try:
                response = await client.post("/v1/events", json=batch)
                if response.status_code == 200:
                    sent += len(batch)
            except httpx.HTTPError:
                pass  # the ingest service is restarting: the next batch tries again
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
    return sent


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("TALLY_INGEST_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.url, args.tenant, args.rate, asyncio.Event()))
    except KeyboardInterrupt:
        pass
