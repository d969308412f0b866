"""Pricing LLM calls with genai-prices, exactly.

The price lookup (provider, model) -> genai-prices model is cached; a model genai-prices does not
know is cached as unknown too, and its calls are marked `unknown_model`: visible and counted,
never silently $0. Amounts are Decimals quantised to 12 places (pico-USD), half-even.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from genai_prices import Usage, data_snapshot

from schemas.types import USD_QUANTUM, PriceStatus

ZERO_USD = Decimal(0).quantize(USD_QUANTUM)


@dataclass(frozen=True, slots=True)
class Price:
    """The cost of one event and how it was obtained."""

    cost_usd: Decimal
    status: PriceStatus


NOT_APPLICABLE = Price(ZERO_USD, "not_applicable")
UNKNOWN_MODEL = Price(ZERO_USD, "unknown_model")


class PriceBook:
    """Prices LLM usage; one instance per worker, its cache lives as long as the worker."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], tuple[Any, Any] | None] = {}

    def _lookup(self, provider: str, model: str) -> tuple[Any, Any] | None:
        key = (provider, model)
        try:
            return self._models[key]
        except KeyError:
            pass
        try:
            found = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
        except LookupError:
            found = None
        self._models[key] = found
        return found

    def knows(self, provider: str, model: str) -> bool:
        """Whether genai-prices has a price for this provider and model."""
        return self._lookup(provider, model) is not None

    def price_llm_call(
        self,
        *,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int,
        at: datetime,
    ) -> Price:
        """Cost of one call at the price in force at `at`.

        `input_tokens` includes `cached_input_tokens` and `output_tokens` includes reasoning tokens,
        which is how genai-prices defines usage: cached reads are priced at the model's cache-read
        rate, reasoning at the output rate.
        """
        found = self._lookup(provider, model)
        if found is None:
            return UNKNOWN_MODEL
        provider_info, model_info = found
        usage = Usage(
            input_tokens=input_tokens,
            cache_read_tokens=cached_input_tokens,
            output_tokens=output_tokens,
        )
        calc = model_info.calc_price(usage, provider_info, genai_request_timestamp=at)
        total: Decimal = calc.total_price
        return Price(total.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN), "priced")
