from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from processors.pricing import Price, PriceBook
from schemas.tenancy import PriceOverride

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BOOK = PriceBook()
Q = Decimal("1e-12")


def price(
    provider: str = "openai",
    model: str = "whisper-1",
    *,
    audio_seconds: float = 0.0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    override: PriceOverride | None = None,
) -> Price:
    return BOOK.price_llm_call(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        at=AT,
        audio_seconds=audio_seconds,
        override=override,
    )


# --- genai-prices audio prices --------------------------------------------------------------------


def test_whisper_1_thirty_seconds() -> None:
    # $0.006 a minute ($0.36 an hour)
    assert price(audio_seconds=30) == Price(Decimal("0.003000000000"), "priced")


@pytest.mark.parametrize(
    ("seconds", "cost"),
    [(60, "0.006000000000"), (0.5, "0.000050000000"), (3600, "0.360000000000"), (1.25, "0.000125000000")],
)
def test_whisper_1_is_linear_in_seconds(seconds: float, cost: str) -> None:
    assert price(audio_seconds=seconds) == Price(Decimal(cost), "priced")


def test_groq_whisper_large_v3_one_minute() -> None:
    expected = (Decimal("0.111") * 60 / 3600).quantize(Q, rounding=ROUND_HALF_EVEN)
    assert expected == Decimal("0.001850000000")
    assert price("groq", "whisper-large-v3", audio_seconds=60) == Price(expected, "priced")


def test_groq_whisper_large_v3_rounds_half_even_to_the_pico_dollar() -> None:
    # $0.111/h x 11 s = 0.000339166666... -> 0.000339166667
    result = price("groq", "whisper-large-v3", audio_seconds=11)
    assert result == Price(Decimal("0.000339166667"), "priced")
    assert result.cost_usd.as_tuple().exponent == -12


def test_groq_bills_at_least_ten_seconds() -> None:
    # Groq's documented 10 s minimum, applied by genai-prices
    ten = Decimal("0.000308333333")
    assert price("groq", "whisper-large-v3", audio_seconds=10).cost_usd == ten
    assert price("groq", "whisper-large-v3", audio_seconds=2.5).cost_usd == ten


def test_no_audio_costs_nothing_on_an_audio_model() -> None:
    assert price(audio_seconds=0) == Price(Decimal("0E-12"), "priced")


def test_audio_on_an_unknown_model_is_unknown_not_free() -> None:
    assert price("openai", "whisper-9000", audio_seconds=30) == Price(Decimal(0), "unknown_model")


def test_repeated_audio_calls_are_priced_the_same() -> None:
    book = PriceBook()
    results = {
        book.price_llm_call(
            provider="openai",
            model="whisper-1",
            input_tokens=0,
            output_tokens=0,
            cached_input_tokens=0,
            at=AT,
            audio_seconds=30,
        )
        for _ in range(3)
    }
    assert results == {Price(Decimal("0.003000000000"), "priced")}


# --- tenant price overrides -----------------------------------------------------------------------


def test_override_per_audio_minute() -> None:
    override = PriceOverride(per_audio_minute=Decimal("0.006"))
    assert price(audio_seconds=90, override=override) == Price(Decimal("0.009000000000"), "tenant_price")


def test_override_audio_division_is_rounded_half_even() -> None:
    # 1 s at $0.01/min = 0.000166666...
    override = PriceOverride(per_audio_minute=Decimal("0.01"))
    assert price(audio_seconds=1, override=override).cost_usd == Decimal("0.000166666667")


def test_override_tokens_cached_rate_defaults_to_input_rate() -> None:
    override = PriceOverride(input_per_mtok=Decimal("3.3"), output_per_mtok=Decimal("13.7"))
    assert override.cached_input_per_mtok is None
    result = price(
        "anthropic", "anything", input_tokens=1234, cached_input_tokens=234, output_tokens=567, override=override
    )
    # 1234 x 3.3 + 567 x 13.7 = 4072.2 + 7767.9 = 11840.1 -> / 1e6
    assert result == Price(Decimal("0.011840100000"), "tenant_price")


def test_override_tokens_with_a_cached_rate() -> None:
    override = PriceOverride(
        input_per_mtok=Decimal("3.3"), cached_input_per_mtok=Decimal("1.1"), output_per_mtok=Decimal("13.7")
    )
    result = price("x", "y", input_tokens=1234, cached_input_tokens=234, output_tokens=567, override=override)
    # 1000 x 3.3 + 234 x 1.1 + 567 x 13.7 = 3300 + 257.4 + 7767.9 = 11325.3
    assert result == Price(Decimal("0.011325300000"), "tenant_price")


def test_override_with_a_zero_cached_rate_makes_cached_tokens_free() -> None:
    override = PriceOverride(input_per_mtok=Decimal("2"), cached_input_per_mtok=Decimal(0))
    result = price("x", "y", input_tokens=1_000_000, cached_input_tokens=1_000_000, override=override)
    assert result == Price(Decimal("0E-12"), "tenant_price")


def test_override_tokens_and_audio_add_up() -> None:
    override = PriceOverride(
        input_per_mtok=Decimal("3.3"), output_per_mtok=Decimal("13.7"), per_audio_minute=Decimal("0.017")
    )
    result = price(input_tokens=1234, cached_input_tokens=234, output_tokens=567, audio_seconds=45.5, override=override)
    # 0.0118401 + 45.5 x 0.017 / 60 = 0.0118401 + 0.0128916666... = 0.0247317666...
    assert result == Price(Decimal("0.024731766667"), "tenant_price")


def test_override_wins_over_the_list_price_of_a_known_model() -> None:
    override = PriceOverride(per_audio_minute=Decimal("0.001"))
    assert price(audio_seconds=60, override=override) == Price(Decimal("0.001000000000"), "tenant_price")


def test_empty_override_prices_at_zero() -> None:
    result = price("openai", "gpt-4o", input_tokens=10_000, output_tokens=10_000, override=PriceOverride())
    assert result == Price(Decimal("0E-12"), "tenant_price")


@pytest.mark.parametrize(
    ("tokens", "cost"),
    [(1, "0E-12"), (3, "2E-12"), (5, "2E-12"), (7, "4E-12")],
)
def test_override_rounds_half_even(tokens: int, cost: str) -> None:
    # each token costs exactly half a pico-dollar
    override = PriceOverride(input_per_mtok=Decimal("0.0000005"))
    assert price("x", "y", input_tokens=tokens, override=override).cost_usd == Decimal(cost)


def test_override_result_is_quantised_to_twelve_places() -> None:
    override = PriceOverride(output_per_mtok=Decimal("7"))
    cost = price("x", "y", output_tokens=3, override=override).cost_usd
    assert cost == Decimal("0.000021000000")
    assert cost.as_tuple().exponent == -12
