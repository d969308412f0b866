"""Pricing LLM calls with genai-prices, exactly.

The price lookup (provider, model) -> genai-prices model is cached; a model genai-prices does not
know is cached as unknown too, and its calls are marked `unknown_model`: visible and counted,
never silently $0. Amounts are Decimals quantised to 12 places (pico-USD), half-even.

Bounded whatever tenants send (processors/settings.py `PricingSettings`): the lookup cache keeps the
most recently used `price_cache_size` entries, and a tenant's calls are stored under at most
`unknown_models_per_tenant` distinct unknown model names (since this worker started); calls of
further unknown models are stored under `OTHER_UNKNOWN_MODELS`, still `unknown_model`, and counted
in `tally_worker_unknown_models_bucketed`.

Hot path: genai-prices' general calculation costs ~200 µs an event. Most models' prices are
linear in each token count, so per model price in force we ask the library once for its cost of
zero usage and of a million tokens of each kind, check those rates against the library on a probe
usage, and then price with three multiplications. Tiered prices, or anything the probe does not
reproduce exactly, go through the library's own calculation every time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from genai_prices import Usage, data_snapshot
from genai_prices.data_snapshot import find_provider_by_id
from genai_prices.types import TieredPrices

from processors import metrics
from processors.settings import PricingSettings
from schemas.tenancy import PriceOverride
from schemas.types import USD_QUANTUM, PriceStatus

ZERO_USD = Decimal(0).quantize(USD_QUANTUM)
OTHER_UNKNOWN_MODELS = "(other unknown models)"
"""The model name calls of a tenant's unknown models beyond its cap are stored under."""


@dataclass(frozen=True, slots=True)
class Price:
    """The cost of one event and how it was obtained."""

    cost_usd: Decimal
    status: PriceStatus
    stored_model: str | None = None
    """The model name to store instead of the one sent (`OTHER_UNKNOWN_MODELS`), or None."""


NOT_APPLICABLE = Price(ZERO_USD, "not_applicable")
UNKNOWN_MODEL = Price(ZERO_USD, "unknown_model")
BUCKETED_UNKNOWN_MODEL = Price(ZERO_USD, "unknown_model", OTHER_UNKNOWN_MODELS)


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


def find_provider_model(provider_id: str, model: str) -> tuple[Any, Any] | None:
    """genai-prices' `find_provider_model(model, None, provider_id, None)`, without its caches.

    The snapshot's own lookup remembers every distinct name it is asked about, found or not
    (`_provider_cache`, `_provider_misses`, `_lookup_cache`, none bounded): random model names would
    grow it without end. Same matching, provider first then model; `PriceBook` caches the result.
    """
    snapshot = data_snapshot.get_snapshot()
    model_ref = model.lower()
    if provider_id.lower() == "litellm" and "/" in model_ref:
        actual_provider, actual_model = model_ref.split("/", 1)
        if actual_provider and find_provider_by_id(snapshot.providers, actual_provider):
            provider_id, model_ref = actual_provider, actual_model
    provider = find_provider_by_id(snapshot.providers, provider_id)
    if provider is None and provider_id.lower() == "litellm":
        matching = (p for p in snapshot.providers if p.model_match is not None and p.model_match.is_match(model_ref))
        provider = next(matching, None)
    if provider is None:
        return None
    found = provider.find_model(model_ref, all_providers=snapshot.providers)
    return (provider, found) if found is not None else None


class PriceBook:
    """Prices LLM usage; one instance per worker, its memory bounded by `PricingSettings`."""

    def __init__(self, settings: PricingSettings | None = None) -> None:
        self.settings = settings or PricingSettings()
        self._models: OrderedDict[tuple[str, str], tuple[Any, Any] | None] = OrderedDict()
        # id(model price) -> (model price, its linear rates or None); the object is kept so its id stays unique.
        # Bounded by the price snapshot: only prices of models genai-prices knows get here.
        self._rates: dict[int, tuple[Any, LinearRates | None]] = {}
        # tenant -> hashes of the (provider, model) pairs of its unknown models stored under their own name
        self._unknown: OrderedDict[str, set[int]] = OrderedDict()

    @property
    def cached_lookups(self) -> int:
        return len(self._models)

    @property
    def tracked_unknown(self) -> dict[str, int]:
        """Per tenant, how many distinct unknown models its calls are stored under."""
        return {tenant: len(seen) for tenant, seen in self._unknown.items()}

    @property
    def tenants_tracked(self) -> int:
        """How many tenants' unknown models are remembered now (at most `pricing_tenants_tracked`)."""
        return len(self._unknown)

    def lookup(self, provider: str, model: str) -> tuple[Any, Any] | None:
        """genai-prices' (provider, model info) for this pair, or None: the same cached lookup pricing uses."""
        return self._lookup(provider, model)

    def _lookup(self, provider: str, model: str) -> tuple[Any, Any] | None:
        key = (provider, model)
        try:
            found = self._models[key]
        except KeyError:
            pass
        else:
            self._models.move_to_end(key)
            return found
        found = find_provider_model(provider, model)
        self._models[key] = found
        if len(self._models) > self.settings.price_cache_size:
            self._models.popitem(last=False)
        return found

    def _unknown_price(self, tenant_id: str, provider: str, model: str) -> Price:
        """UNKNOWN_MODEL under the model's own name while the tenant is under its cap, else bucketed."""
        seen = self._unknown.get(tenant_id)
        if seen is None:
            seen = self._unknown[tenant_id] = set()
            if len(self._unknown) > self.settings.pricing_tenants_tracked:
                self._unknown.popitem(last=False)
        else:
            self._unknown.move_to_end(tenant_id)
        pair = hash((provider, model))
        if pair in seen:
            return UNKNOWN_MODEL
        if len(seen) < self.settings.unknown_models_per_tenant:
            seen.add(pair)
            return UNKNOWN_MODEL
        metrics.UNKNOWN_MODELS_BUCKETED.inc()
        return BUCKETED_UNKNOWN_MODEL

    def knows(self, provider: str, model: str) -> bool:
        """Whether genai-prices has a price for this provider and model."""
        return self._lookup(provider, model) is not None

    def price_llm_call(
        self,
        *,
        provider: str,
        model: str,
        tenant_id: str = "",
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
        (Whisper: genai-prices' per-hour audio price). An unknown model of `tenant_id` beyond its
        cap comes back with `stored_model` set (`OTHER_UNKNOWN_MODELS`).
        """
        if override is not None:
            return _override_price(override, input_tokens, cached_input_tokens, output_tokens, audio_seconds)
        found = self._lookup(provider, model)
        if found is None:
            return self._unknown_price(tenant_id, provider, model)
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
