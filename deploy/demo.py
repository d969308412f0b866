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
CHANNELS = ("web", "web", "whatsapp")
PRODUCTS = (
    ("sku-101", "Hydrating Serum", "skincare"),
    ("sku-102", "Night Cream", "skincare"),
    ("sku-201", "Argan Shampoo", "haircare"),
    ("sku-202", "Repair Mask", "haircare"),
    ("sku-301", "Sunscreen SPF50", "skincare"),
)
#: (query, results): some searches find nothing, which feeds the "missing products" view.
SEARCHES = (("serum", 4), ("night cream", 2), ("shampoo for curly hair", 3), ("vegan lipstick", 0), ("beard oil", 0))


def session_events(tenant_id: str, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """One short chat session: alternating messages, an LLM call per assistant turn."""
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    user = f"user-{rng.randrange(500)}"
    weights = (50, 10, 20, 18, 2)
    base = {"tenant_id": tenant_id, "session_id": session_id, "timestamp": now.isoformat()}
    events: list[dict[str, Any]] = [
        {**base, "event_id": str(uuid.uuid4()), "type": "session_started", "channel": rng.choice(CHANNELS)}
    ]
    for _ in range(rng.randint(1, 4)):
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
        events.extend(_shopping(base, rng))
    if rng.random() < 0.1:
        events.append(
            {
                **base,
                "event_id": str(uuid.uuid4()),
                "type": "llm_call",
                "operation": "transcription",
                "provider": "openai",
                "model": "whisper-1",
                "audio_seconds": rng.randint(3, 90),
                "latency_ms": rng.randint(500, 3000),
            }
        )
    if rng.random() < 0.3:
        score = {"rating": rng.randint(1, 5)} if rng.random() < 0.5 else {"thumbs": rng.choice(("up", "up", "down"))}
        events.append({**base, "event_id": str(uuid.uuid4()), "type": "feedback", **score})
    events.append(
        {
            **base,
            "event_id": str(uuid.uuid4()),
            "type": "session_ended",
            "reason": rng.choice(("completed", "completed", "abandoned")),
            "duration_ms": rng.randint(5_000, 600_000),
        }
    )
    return events


def _shopping(base: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """What the assistant did for the shopper this turn: a search, products shown and clicked, an order."""
    out: list[dict[str, Any]] = []
    query, results = rng.choice(SEARCHES)
    out.append(
        {
            **base,
            "event_id": str(uuid.uuid4()),
            "type": "search",
            "query": query,
            "results_count": results,
            "latency_ms": rng.randint(20, 300),
        }
    )
    for product_id, name, category in rng.sample(PRODUCTS, rng.randint(0, 2)):
        product = {"product_id": product_id, "product_name": name, "category": category}
        out.append({**base, "event_id": str(uuid.uuid4()), "type": "product_event", "action": "recommended", **product})
        if rng.random() < 0.3:
            out.append({**base, "event_id": str(uuid.uuid4()), "type": "product_event", "action": "clicked", **product})
            if rng.random() < 0.3:
                out.append(
                    {
                        **base,
                        "event_id": str(uuid.uuid4()),
                        "type": "conversion",
                        "order_id": f"ord-{uuid.uuid4().hex[:8]}",
                        "revenue": f"{rng.randint(10, 300)}.{rng.randint(0, 99):02d}",
                        "currency": "USD",
                        "feature": "recommendation",
                    }
                )
    return out


async def run(ingest_url: str, tenant_id: str, api_key: str, rate: float, stop: asyncio.Event) -> int:
    """Send about `rate` events a second until `stop` is set; returns how many were accepted."""
    rng = random.Random()
    sent = 0
    headers = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=ingest_url, timeout=15, headers=headers) as client:
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
    parser.add_argument("--tenant", default=os.environ.get("TALLY_DEMO_TENANT", "demo"))
    parser.add_argument("--key", default=os.environ.get("TALLY_DEMO_INGEST_KEY", ""), help="ingest key (or env)")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.url, args.tenant, args.key, args.rate, asyncio.Event()))
    except KeyboardInterrupt:
        pass
