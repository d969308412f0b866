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


def _all_priced_models():
    from genai_prices import data_snapshot

    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            yield provider, model


def test_fast_linear_path_agrees_with_the_library_for_every_model() -> None:
    from genai_prices import Usage

    book = PriceBook()
    checked = fallback = 0
    for provider_info, model_info in _all_priced_models():
        model_price = model_info.get_prices(AT)
        if pricing.linear_rates(model_price) is None:
            fallback += 1
            continue
        for tin, cached, out in ((0, 0, 0), (1, 0, 1), (987_654, 12_345, 54_321), (5_000, 5_000, 0)):
            try:
                want = model_info.calc_price(
                    Usage(input_tokens=tin, cache_read_tokens=cached, output_tokens=out),
                    provider_info,
                    genai_request_timestamp=AT,
                ).total_price
            except Exception:
                continue  # usage this model cannot price at all (e.g. cache reads on a model without them)
            found = book._lookup(provider_info.id, model_info.id)
            if found is None or found[1] is not model_info:
                continue  # the id resolves to another model of the provider first
            got = book.price_llm_call(
                provider=provider_info.id,
                model=model_info.id,
                input_tokens=tin,
                output_tokens=out,
                cached_input_tokens=cached,
                at=AT,
            )
            assert got.cost_usd == pricing.Price(want.quantize(pricing.USD_QUANTUM), "priced").cost_usd, model_info.id
            checked += 1
    assert checked > 500, (checked, fallback)
