"""The price book stays bounded whatever model names tenants send; capped unknown models stay unpriced."""

from __future__ import annotations

import random
import string
import tracemalloc
from datetime import UTC, datetime

import orjson
import pytest

from processors import metrics
from processors.pricing import OTHER_UNKNOWN_MODELS, PriceBook
from processors.rows import build_batch
from processors.settings import PricingSettings
from tests.factories import llm_call

AT = datetime(2025, 6, 1, tzinfo=UTC)


def _random_name(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=256))


def _price(book: PriceBook, tenant: str, model: str, provider: str = "openai"):  # type: ignore[no-untyped-def]
    return book.price_llm_call(
        tenant_id=tenant,
        provider=provider,
        model=model,
        input_tokens=1000,
        output_tokens=100,
        cached_input_tokens=0,
        at=AT,
    )


def _bucketed() -> float:
    return metrics.UNKNOWN_MODELS_BUCKETED._value.get()


def test_200k_random_model_names_leave_the_book_bounded() -> None:
    settings = PricingSettings(unknown_models_per_tenant=100, price_cache_size=4096, pricing_tenants_tracked=50)
    book = PriceBook(settings)
    rng = random.Random(11)
    statuses = set()
    for i in range(200_000):
        # a provider genai-prices does not know: the lookup is quick (a known one costs ~250 us per new name)
        price = _price(book, f"tenant{i % 40}", _random_name(rng), provider="self-hosted")
        statuses.add((price.status, price.cost_usd))
    assert statuses == {("unknown_model", 0)}
    assert book.cached_lookups == 4096
    assert book.tracked_unknown == {f"tenant{t}": 100 for t in range(40)}
    for t in range(40, 200):  # more tenants than tracked: the least recently seen are forgotten
        _price(book, f"tenant{t}", _random_name(rng), provider="self-hosted")
    assert len(book.tracked_unknown) == 50


def test_random_names_of_a_known_provider_leave_the_book_bounded() -> None:
    book = PriceBook(PricingSettings(unknown_models_per_tenant=10, price_cache_size=64))
    rng = random.Random(5)
    tracemalloc.start()
    try:
        _price(book, "acme", "gpt-4o-mini")
        baseline, _ = tracemalloc.get_traced_memory()
        prices = [_price(book, "acme", _random_name(rng)) for _ in range(1000)]
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {p.status for p in prices} == {"unknown_model"}
    assert sum(p.stored_model == OTHER_UNKNOWN_MODELS for p in prices) == 990
    assert book.cached_lookups == 64
    assert book.tracked_unknown == {"acme": 10}
    # the 1000 prices kept by this test are shared objects; the book holds 64 names (~30 KB), not 1000 (~400 KB)
    assert grown - baseline < 200_000, grown - baseline


def test_unknown_models_beyond_the_cap_are_one_bucket_still_unpriced() -> None:
    book = PriceBook(PricingSettings(unknown_models_per_tenant=3))
    before = _bucketed()
    first = [_price(book, "acme", f"mystery-{i}") for i in range(3)]
    assert [p.stored_model for p in first] == [None, None, None]
    assert {(p.status, p.cost_usd) for p in first} == {("unknown_model", 0)}
    beyond = [_price(book, "acme", f"mystery-{i}") for i in range(3, 10)]
    assert {(p.status, p.stored_model) for p in beyond} == {("unknown_model", OTHER_UNKNOWN_MODELS)}
    assert _bucketed() - before == 7
    # a model under the cap keeps its name; known models are priced; other tenants have their own cap
    assert _price(book, "acme", "mystery-1").stored_model is None
    known = _price(book, "acme", "gpt-4o-mini")
    assert known.status == "priced" and known.cost_usd > 0 and known.stored_model is None
    assert _price(book, "globex", "mystery-9").stored_model is None


def test_rows_of_bucketed_models_are_stored_under_the_bucket_name_and_counted_unpriced() -> None:
    book = PriceBook(PricingSettings(unknown_models_per_tenant=2))
    events = [llm_call("acme", AT, model=f"weird-{i}") for i in range(5)] + [llm_call("acme", AT)]
    batch = build_batch([(b"acme", orjson.dumps(e)) for e in events], book, AT)
    assert [r["model"] for r in batch.rows] == [
        "weird-0",
        "weird-1",
        OTHER_UNKNOWN_MODELS,
        OTHER_UNKNOWN_MODELS,
        OTHER_UNKNOWN_MODELS,
        "gpt-4o-mini",
    ]
    assert [r["price_status"] for r in batch.rows] == ["unknown_model"] * 5 + ["priced"]
    assert batch.unknown_model == 5
    assert all(r["cost_usd"] == 0 for r in batch.rows[:5])


@pytest.mark.parametrize(
    ("field", "value"), [("unknown_models_per_tenant", 0), ("price_cache_size", 1), ("pricing_tenants_tracked", 0)]
)
def test_bounds_reject_nonsense_settings(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        PricingSettings(**{field: value})
