"""Pricing LLM calls with genai-prices, exactly.

The price lookup (provider, model) -> genai-prices model is cached; a model genai-prices does not
know is cached as unknown too, and its calls are marked `unknown_model`: visible and counted,
never silently $0. Amounts are Decimals quantised to 12 places (pico-USD), half-even.

Hot path: genai-prices' general calculation costs ~200 µs an event. Most models' prices are
linear in each token count, so per model price in force we ask the library once for its cost of
zero usage and of a million tokens of each kind, check those rates against the library on a probe
usage, and then price with three multiplications. Tiered prices, or anything the probe does not
reproduce exactly, go through the library's own calculation every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from genai_prices import Usage, data_snapshot
from genai_prices.types import TieredPrices

from schemas.tenancy import PriceOverride
from schemas.types import USD_QUANTUM, PriceStatus

ZERO_USD = Decimal(0).quantize(USD_QUANTUM)


@dataclass(frozen=True, slots=True)
class Price:
    """The cost of one event and how it was obtained."""

    cost_usd: Decimal
    status: PriceStatus


NOT_APPLICABLE = Price(ZERO_USD, "not_applicable")
UNKNOWN_MODEL = Price(ZERO_USD, "unknown_model")


_MTOK = 1_000_000
_PROBE = {"input_tokens": 123_457, "cache_read_tokens": 4_567, "output_tokens": 8_911}


@dataclass(frozen=True, slots=True)
class LinearRates:
    """USD per token of each kind, plus a fixed amount per call, as genai-prices computes them."""

    base: Decimal
    uncached_input: Decimal
    cached_input: Decimal
    output: Decimal

    def cost(self, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> Decimal:
        return (
            self.base
            + (input_tokens - cached_input_tokens) * self.uncached_input
            + cached_input_tokens * self.cached_input
            + output_tokens * self.output
        )


def linear_rates(model_price: Any) -> LinearRates | None:
    """The model price's per-token rates, or None when it is not linear (tiers) or not reproduced."""
    if any(isinstance(v, TieredPrices) for v in vars(model_price).values()):
        return None

    def total(**usage: int) -> Decimal:
        value: Decimal = model_price.calc_price(Usage(**usage))["total_price"]
        return value

    base = total()
    rates = LinearRates(
        base=base,
        uncached_input=(total(input_tokens=_MTOK) - base) / _MTOK,
        cached_input=(total(input_tokens=_MTOK, cache_read_tokens=_MTOK) - base) / _MTOK,
        output=(total(output_tokens=_MTOK) - base) / _MTOK,
    )
    probe = rates.cost(_PROBE["input_tokens"], _PROBE["cache_read_tokens"], _PROBE["output_tokens"])
    return rates if probe == total(**_PROBE) else None


class PriceBook:
    """Prices LLM usage; one instance per worker, its cache lives as long as the worker."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], tuple[Any, Any] | None] = {}
        # id(model price) -> (model price, its linear rates or None); the object is kept so its id stays unique.
        self._rates: dict[int, tuple[Any, LinearRates | None]] = {}

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
        audio_seconds: float = 0.0,
        override: PriceOverride | None = None,
    ) -> Price:
        """Cost of one call at the price in force at `at` (or at the tenant's own price, `override`).

        `input_tokens` includes `cached_input_tokens` and `output_tokens` includes reasoning tokens,
        which is how genai-prices defines usage: cached reads are priced at the model's cache-read
        rate, reasoning at the output rate. `audio_seconds` prices models billed by duration
        (Whisper: genai-prices' per-hour audio price).
        """
        if override is not None:
            return _override_price(override, input_tokens, cached_input_tokens, output_tokens, audio_seconds)
        found = self._lookup(provider, model)
        if found is None:
            return UNKNOWN_MODEL
        provider_info, model_info = found
        model_price = model_info.get_prices(at)
        cached = self._rates.get(id(model_price))
        if cached is None:
            cached = self._rates[id(model_price)] = (model_price, linear_rates(model_price))
        rates = cached[1]
        total: Decimal
        if rates is not None and not audio_seconds:
            total = rates.cost(input_tokens, cached_input_tokens, output_tokens)
        else:
            usage = Usage(
                input_tokens=input_tokens,
                cache_read_tokens=cached_input_tokens,
                output_tokens=output_tokens,
                audio_seconds=Decimal(repr(audio_seconds)) if audio_seconds else None,
            )
            total = model_info.calc_price(usage, provider_info, genai_request_timestamp=at).total_price
        return Price(total.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN), "priced")


def _override_price(
    override: PriceOverride, input_tokens: int, cached_input_tokens: int, output_tokens: int, audio_seconds: float
) -> Price:
    cached_rate = override.input_per_mtok if override.cached_input_per_mtok is None else override.cached_input_per_mtok
    total = (
        (input_tokens - cached_input_tokens) * override.input_per_mtok
        + cached_input_tokens * cached_rate
        + output_tokens * override.output_per_mtok
    ) / _MTOK + Decimal(repr(audio_seconds)) * override.per_audio_minute / 60
    return Price(total.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN), "tenant_price")
