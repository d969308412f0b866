"""The vectorised price table equals `PriceBook`'s Decimal prices to the pico-dollar, row for row."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from genai_prices import data_snapshot
from genai_prices.types import StartDateConstraint, TieredPrices, TimeOfDateConstraint
from hypothesis import given, settings
from hypothesis import strategies as st

from processors import metrics
from processors.price_rates import MAX_TOKENS, cost_pico, genai_rates
from processors.price_table import PriceOverflow, PriceTable
from processors.pricing import OTHER_UNKNOWN_MODELS, PriceBook
from processors.settings import PricingSettings
from schemas.tenancy import PriceOverride

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
COLUMNS = ("tenant_id", "provider", "model", "timestamp", "input_tokens", "output_tokens", "cached_input_tokens")
Call = dict[str, Any]


def call(provider: str | None, model: str | None, i: int = 0, o: int = 0, c: int = 0, **extra: Any) -> Call:
    row = {"tenant_id": "t1", "provider": provider, "model": model, "timestamp": AT}
    row |= {"input_tokens": i, "output_tokens": o, "cached_input_tokens": c, "audio_seconds": 0.0}
    return row | extra


def frame(calls: Iterable[Call]) -> pl.DataFrame:
    schema = {
        "tenant_id": pl.String, "provider": pl.String, "model": pl.String, "timestamp": pl.Datetime("us", "UTC"),
        "input_tokens": pl.Int64, "output_tokens": pl.Int64, "cached_input_tokens": pl.Int64,
        "audio_seconds": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(list(calls), schema=schema)


def one_by_one(book: PriceBook, calls: Iterable[Call], overrides: Any = None) -> list[tuple[int, str, str | None]]:
    """What today's per-event path stores: (pico-USD, status, model), asking `book` row after row."""
    out = []
    for row in calls:
        if row["provider"] is None:
            out.append((0, "not_applicable", row["model"]))
            continue
        override = overrides(row["tenant_id"], row["provider"], row["model"]) if overrides else None
        price = book.price_llm_call(
            tenant_id=row["tenant_id"], provider=row["provider"], model=row["model"], at=row["timestamp"],
            input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
            cached_input_tokens=row["cached_input_tokens"], audio_seconds=row["audio_seconds"], override=override,
        )  # fmt: skip
        out.append((int(price.cost_usd.scaleb(12)), price.status, price.stored_model or row["model"]))
    return out


def vectorised(table: PriceTable, calls: list[Call], overrides: Any = None) -> list[tuple[int, str, str | None]]:
    out = table.price(frame(calls), overrides)
    assert out.schema["cost_pico"] == pl.Int64
    return [(int(p), str(s), m) for p, s, m in out.iter_rows()]


def assert_same(calls: list[Call], overrides: Any = None, **settings_: int) -> PriceTable:
    table = PriceTable(PriceBook(PricingSettings(**settings_)))
    got = vectorised(table, calls, overrides)
    want = one_by_one(PriceBook(PricingSettings(**settings_)), calls, overrides)
    mismatches = [(row, g, w) for row, g, w in zip(calls, got, want, strict=True) if g != w]
    assert not mismatches, (len(mismatches), mismatches[:5])
    return table


# --- the corpus: every provider and model genai-prices knows -------------------------------------------------------


def _tiers(model_info: Any) -> set[int]:
    prices = model_info.prices if isinstance(model_info.prices, list) else []
    every = [p.prices for p in prices] or [model_info.prices]
    return {t.start for mp in every for v in vars(mp).values() if isinstance(v, TieredPrices) for t in v.tiers}


def _moments(model_info: Any) -> list[datetime]:
    """An instant in each price period: either side of every start date and off-peak boundary."""
    moments = [AT]
    for conditional in model_info.prices if isinstance(model_info.prices, list) else []:
        constraint = conditional.constraint
        if isinstance(constraint, StartDateConstraint):
            start = datetime.combine(constraint.start_date, datetime.min.time(), UTC)
            moments += [start - timedelta(microseconds=1), start]
        elif isinstance(constraint, TimeOfDateConstraint):
            for t in (constraint.start_time, constraint.end_time):
                edge = datetime.combine(AT.date(), t, t.tzinfo or UTC).astimezone(UTC)
                moments += [edge - timedelta(microseconds=1), edge]
    return moments


def corpus() -> list[Call]:
    rng = random.Random(13)
    calls = []
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            inputs = {0, 1, 123_457, MAX_TOKENS} | {t + d for t in _tiers(model) for d in (-1, 0, 1)}
            for n, at in enumerate(_moments(model)):
                for i in sorted(inputs):
                    c = (0, i, i // 3)[(i + n) % 3]
                    o = (0, 1, 98_765, MAX_TOKENS)[(i + n) % 4]
                    calls.append(call(provider.id, model.id, i, o, c, timestamp=at, tenant_id=f"t{rng.randrange(5)}"))
            for seconds in (1.5, 10.0, 61.25, 86_400.0, 0.1234567):
                calls.append(call(provider.id, model.id, 1000, 10, 0, audio_seconds=seconds))
    return calls


def test_every_genai_prices_model_is_priced_as_the_price_book_prices_it() -> None:
    calls = corpus()
    table = assert_same(calls)
    vectorised_periods = sum(1 for p in table._rates[1:] if p.rates is not None)
    assert len(calls) > 20_000 and table.periods > 2_000, (len(calls), table.periods)
    assert vectorised_periods >= 0.99 * table.periods, (vectorised_periods, table.periods)


def test_unknown_models_overrides_and_other_events_in_one_batch() -> None:
    override = PriceOverride(input_per_mtok=Decimal("3.3"), output_per_mtok=Decimal("13.7"))

    def overrides(tenant: str, provider: str, model: str) -> PriceOverride | None:
        return override if (tenant, model) == ("t2", "gpt-4o") or model == "in-house" else None

    calls = [
        call("openai", "gpt-4o", 1234, 567, 234),
        call("openai", "gpt-4o", 1234, 567, 234, tenant_id="t2"),
        call("openai", "in-house", 10, 10),
        call("openai", "no-such-model", 10, 10),
        call(None, None),
        call("anthropic", "claude-sonnet-4-0", 5000, 100, 64),
    ]
    assert_same(calls, overrides)
    got = vectorised(PriceTable(), calls, overrides)
    assert [s for _, s, _ in got] == [
        "priced",
        "tenant_price",
        "tenant_price",
        "unknown_model",
        "not_applicable",
        "priced",
    ]
    assert got[1][0] == 11_840_100_000  # 1234 x 3.3 + 567 x 13.7 = 11840.1 micro-USD: the override, not the list price


@pytest.mark.parametrize(
    "override",
    [
        PriceOverride(input_per_mtok=Decimal("0.0000005")),  # half a pico-dollar a token: ties, rounded half-even
        PriceOverride(
            input_per_mtok=Decimal("3.3"), cached_input_per_mtok=Decimal("1.1"), output_per_mtok=Decimal("7")
        ),
        PriceOverride(input_per_mtok=Decimal("2"), cached_input_per_mtok=Decimal(0)),
        PriceOverride(per_audio_minute=Decimal("0.017"), input_per_mtok=Decimal("9999.999999999999")),
        PriceOverride(per_audio_minute=Decimal("0.000000000001")),
        PriceOverride(),
    ],
)
def test_tenant_prices_round_as_the_price_book(override: PriceOverride) -> None:
    rng = random.Random(5)
    calls = [call("x", "y", t, t // 2, t // 3) for t in (0, 1, 2, 3, 5, 7, 999_999)]
    calls += [call("x", "y", rng.randrange(10**5), rng.randrange(10**5), 0, audio_seconds=s) for s in (1, 45.5, 0.001)]
    calls += [call("x", "y", 0, 0, 0, audio_seconds=rng.randrange(86_400_000) / 1000) for _ in range(50)]
    assert_same(calls, lambda t, p, m: override)


def test_a_cost_beyond_int64_is_refused_not_wrapped() -> None:
    huge = PriceOverride(output_per_mtok=Decimal("99999999"))
    with pytest.raises(PriceOverflow):
        PriceTable().price(frame([call("x", "y", 0, MAX_TOKENS)]), lambda t, p, m: huge)


@pytest.mark.parametrize(
    ("column", "value"),
    [("input_tokens", MAX_TOKENS + 1), ("output_tokens", -1), ("audio_seconds", float("nan")), ("audio_seconds", 1e9)],
)
def test_values_outside_the_contract_are_refused_by_name(column: str, value: float) -> None:
    with pytest.raises(ValueError, match=column):
        PriceTable().price(frame([call("openai", "gpt-4o", 1, 1) | {column: value}]))


def test_cached_above_input_is_priced_as_the_price_book_does() -> None:
    assert_same([call("openai", "gpt-4o-mini", 10, 5, 20), call("groq", "llama-3.1-8b-instant", 0, 0, 7)])


# --- unknown models: the per-tenant cap and bucket, as row by row ----------------------------------------------------


def unknown_calls(rng: random.Random, n: int, tenants: int, models: int) -> list[Call]:
    return [
        call("openai", f"custom-{rng.randrange(models)}", 5, 5, tenant_id=f"t{rng.randrange(tenants)}")
        for _ in range(n)
    ]


@pytest.mark.parametrize("tracked", [1000, 3])  # 3: the book forgets tenants within a batch
def test_unknown_models_are_capped_and_bucketed_as_row_by_row(tracked: int) -> None:
    rng = random.Random(7)
    limits = {"unknown_models_per_tenant": 2, "pricing_tenants_tracked": tracked}
    table = PriceTable(PriceBook(PricingSettings(**limits)))
    book = PriceBook(PricingSettings(**limits))
    counted = metrics.UNKNOWN_MODELS_BUCKETED._value.get
    for _ in range(4):  # several batches: what the book remembers carries over
        calls = unknown_calls(rng, 300, 6, 5)
        before = counted()
        got = vectorised(table, calls)
        mid = counted()
        assert got == one_by_one(book, calls)
        assert mid - before == counted() - mid > 0  # each bucketed call counted once, as row by row
        assert table.book.tracked_unknown == book.tracked_unknown
        assert list(table.book._unknown) == list(book._unknown)  # same least-recently-seen order


def test_a_bucketed_model_is_stored_under_the_bucket_name() -> None:
    calls = [call("openai", f"custom-{k}", 1, 1) for k in range(4)]
    got = vectorised(PriceTable(PriceBook(PricingSettings(unknown_models_per_tenant=2))), calls)
    assert [m for _, _, m in got] == ["custom-0", "custom-1", OTHER_UNKNOWN_MODELS, OTHER_UNKNOWN_MODELS]
    assert {s for _, s, _ in got} == {"unknown_model"}


# --- property: random token counts, instants and audio over models of every kind ------------------------------------

SAMPLE = [
    ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-0"), ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.0-flash"), ("deepseek", "deepseek-chat"), ("openai", "whisper-1"),
    ("groq", "whisper-large-v3"), ("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5"),
]  # fmt: skip
_TABLE, _BOOK = PriceTable(), PriceBook()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(SAMPLE),
            st.integers(0, MAX_TOKENS),
            st.integers(0, MAX_TOKENS),
            st.floats(0, 1),
            st.integers(0, 3 * 365 * 86_400 * 10**6),
            st.one_of(st.just(0.0), st.integers(0, 86_400_000).map(lambda ms: ms / 1000), st.floats(0, 86_400)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_random_calls_are_priced_as_the_price_book(rows: list[tuple[Any, int, int, float, int, float]]) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    calls = [
        call(p, m, i, o, int(i * share), timestamp=start + timedelta(microseconds=us), audio_seconds=s)
        for (p, m), i, o, share, us, s in rows
    ]
    assert vectorised(_TABLE, calls) == one_by_one(_BOOK, calls)


def test_rates_use_more_than_twelve_decimals_per_token_where_genai_prices_does() -> None:
    book = PriceBook()
    found = book.lookup("huggingface_together", "Qwen/Qwen3-VL-8B-Instruct")
    assert found is not None and found[1].get_prices(AT).input_mtok == Decimal("0.18000000000000002")
    rates = genai_rates(book, ("huggingface_together", "Qwen/Qwen3-VL-8B-Instruct"), found, AT)
    assert rates is not None and rates.segments[0].uncached == 180_000_000_000_000_020  # yocto-USD a token
    assert cost_pico(rates, 1, 0, 0, 0) == 180_000  # 1.8000000000000002e-7 USD, rounded to the pico-dollar


def test_price_periods_are_bounded_by_the_cache_size() -> None:
    table = PriceTable(PriceBook(PricingSettings(price_cache_size=16)))
    models = [(p.id, m.id) for p in data_snapshot.get_snapshot().providers[:3] for m in p.models][:60]
    for k in range(0, 60, 10):
        table.price(frame([call(p, m, 100, 10) for p, m in models[k : k + 10]]))
        assert table.periods <= 16 + 10
