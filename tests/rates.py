"""Published list prices (USD per million tokens), written down independently of genai-prices.

Tests compute expected costs from these by hand and compare with what the pipeline computes.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

MTOK = Decimal(1_000_000)

#: (provider, model) -> (input, output, cached input read)
RATES: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]] = {
    ("openai", "gpt-4o-mini"): (Decimal("0.15"), Decimal("0.60"), Decimal("0.075")),
    ("openai", "gpt-4o"): (Decimal("2.50"), Decimal("10.00"), Decimal("1.25")),
    ("anthropic", "claude-3-5-haiku-latest"): (Decimal("0.80"), Decimal("4.00"), Decimal("0.08")),
    ("groq", "llama-3.1-8b-instant"): (Decimal("0.05"), Decimal("0.08"), Decimal("0.05")),
}


def expected_cost(provider: str, model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> Decimal:
    rate_in, rate_out, rate_cached = RATES[(provider, model)]
    cost = ((input_tokens - cached) * rate_in + cached * rate_cached + output_tokens * rate_out) / MTOK
    return cost.quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN)
