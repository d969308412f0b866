from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from processors import pricing
from processors.pricing import PriceBook
from tests.rates import RATES, expected_cost

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def price(book: PriceBook, provider: str, model: str, i: int, o: int, c: int = 0) -> pricing.Price:
    return book.price_llm_call(
        provider=provider, model=model, input_tokens=i, output_tokens=o, cached_input_tokens=c, at=AT
    )


def test_gpt_4o_mini_with_cached_input_matches_list_price() -> None:
    result = price(PriceBook(), "openai", "gpt-4o-mini", 1000, 500, 200)
    # 800 x $0.15/M + 200 x $0.075/M + 500 x $0.60/M
    assert result == pricing.Price(Decimal("0.000435000000"), "priced")


def test_every_reference_model_is_priced_at_its_list_price() -> None:
    book = PriceBook()
    for provider, model in RATES:
        result = price(book, provider, model, 123_457, 9_876, 1_000)
        assert result.status == "priced"
        assert result.cost_usd == expected_cost(provider, model, 123_457, 9_876, 1_000), (provider, model)


def test_unknown_model_is_marked_not_silently_free() -> None:
    result = price(PriceBook(), "openai", "in-house-finetune-v0", 1000, 1000)
    assert result.status == "unknown_model"
    assert result.cost_usd == Decimal(0)


def test_price_lookup_is_cached_per_provider_and_model(monkeypatch) -> None:
    calls = []
    real = pricing.data_snapshot.get_snapshot

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(pricing.data_snapshot, "get_snapshot", counting)
    book = PriceBook()
    for _ in range(5):
        price(book, "openai", "gpt-4o", 10, 10)
        price(book, "openai", "no-such-model", 10, 10)
    assert len(calls) == 2


def test_cost_is_quantised_to_the_pico_dollar() -> None:
    result = price(PriceBook(), "groq", "llama-3.1-8b-instant", 1, 1)
    assert result.cost_usd == Decimal("0.000000130000")
    assert result.cost_usd.as_tuple().exponent == -12


@given(
    st.integers(0, 2_000_000),
    st.integers(0, 2_000_000),
    st.data(),
)
def test_cost_equals_the_list_price_formula(input_tokens: int, output_tokens: int, data: st.DataObject) -> None:
    cached = data.draw(st.integers(0, input_tokens))
    provider, model = data.draw(st.sampled_from(sorted(RATES)))
    result = price(_BOOK, provider, model, input_tokens, output_tokens, cached)
    assert result.cost_usd == expected_cost(provider, model, input_tokens, output_tokens, cached)


_BOOK = PriceBook()
