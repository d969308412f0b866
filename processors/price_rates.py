"""Integer price rates (yocto-USD) of one price period, derived from genai-prices or a tenant's own price.

Units: yocto-USD (1e-24) per token, per call and per `audio_per` seconds of audio. genai-prices has
rates of up to 18 decimal places per million tokens (float artefacts such as 0.18000000000000002
$/MTok), i.e. up to 24 per token: pico (12) or atto (18) units would not be exact. A genai-prices
price is read from the library (its cost of a few usages in every tier) and accepted only if it
reproduces `PriceBook`'s Decimal price to the pico-dollar on probe usages of every tier (tier
boundaries, zero, the contract's maximum, audio below and above Groq's 10 s minimum); otherwise the
caller prices that period's calls one by one with `PriceBook`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from genai_prices import Usage
from genai_prices.types import TieredPrices, TimeOfDateConstraint

from processors.pricing import PriceBook
from schemas.tenancy import PriceOverride
from schemas.types import USD_SCALE

UNITS_PER_USD = 10**24
UNITS_PER_PICO = UNITS_PER_USD // 10**USD_SCALE
MAX_TOKENS = 100_000_000  # schemas.types.TokenCount
MAX_AUDIO_US = 86_400 * 10**6  # schemas.types.AudioSeconds
_MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class Segment:
    """Integer rates (yocto-USD) in force when input tokens exceed `above`."""

    above: int
    base: int
    uncached: int
    cached: int
    output: int
    audio: int


@dataclass(frozen=True, slots=True)
class Rates:
    """One price period of one model (or one tenant price) as integers."""

    segments: tuple[Segment, ...]
    audio_per: int = 3600
    audio_min_us: int = 0


def cost_pico(rates: Rates, i: int, c: int, o: int, audio_us: int) -> int:
    """The column formula for one row, in Python integers (reference for the tests)."""
    seg = next(s for s in reversed(rates.segments) if i > s.above)
    tokens = seg.base + (i - c) * seg.uncached + c * seg.cached + o * seg.output
    billed = max(audio_us, rates.audio_min_us) if audio_us > 0 else 0
    per = 10**6 * rates.audio_per
    q, r = divmod(tokens * per + seg.audio * billed, UNITS_PER_PICO * per)
    up = 2 * r > UNITS_PER_PICO * per or (2 * r == UNITS_PER_PICO * per and q % 2 == 1)
    return int(q) + int(up)


def _units(value: Decimal, scale: int = 1) -> int | None:
    scaled = value * UNITS_PER_USD / scale
    return int(scaled) if scaled == scaled.to_integral_value() else None


def override_rates(override: PriceOverride) -> Rates:
    """A tenant's own price as integer rates (its rates have at most 12 decimals per MTok: integral in yocto)."""
    cached = override.input_per_mtok if override.cached_input_per_mtok is None else override.cached_input_per_mtok
    per_token = [_units(rate, _MTOK) for rate in (override.input_per_mtok, cached, override.output_per_mtok)]
    audio = _units(override.per_audio_minute)
    assert audio is not None and all(rate is not None for rate in per_token)
    uncached, cached_rate, output = (int(rate or 0) for rate in per_token)
    return Rates((Segment(-1, 0, uncached, cached_rate, output, audio),), audio_per=60)


def genai_rates(book: PriceBook, names: tuple[str, str], found: tuple[Any, Any], at: datetime) -> Rates | None:
    """The rates of the model's price in force at `at`, derived from genai-prices and checked against
    `book` on probe usages of every tier; None when not integral in yocto or not reproduced exactly."""
    provider_info, model_info = found

    def lib(i: int, c: int, o: int, seconds: int | None = None) -> Decimal:
        usage = Usage(input_tokens=i, cache_read_tokens=c, output_tokens=o, audio_seconds=seconds)
        total: Decimal = model_info.calc_price(usage, provider_info, genai_request_timestamp=at).total_price
        return total

    model_price = model_info.get_prices(at)
    starts = sorted({t.start for v in vars(model_price).values() if isinstance(v, TieredPrices) for t in v.tiers})
    bounds = [-1, *starts]
    segments = []
    try:
        for j, above in enumerate(bounds):
            lo = above + 1
            hi = bounds[j + 1] if j + 1 < len(bounds) else max(lo, MAX_TOKENS)
            if hi == lo:
                return None  # a one-value tier: not worth deriving
            at_hi = lib(hi, 0, 0)
            uncached = (at_hi - lib(lo, 0, 0)) / (hi - lo)
            base = at_hi - uncached * hi
            values = (
                base,
                uncached,
                (lib(hi, hi, 0) - base) / hi,
                (lib(hi, 0, _MTOK) - at_hi) / _MTOK,
                lib(hi, 0, 0, 3600) - at_hi,
            )
            units = [_units(v) for v in values]
            if any(u is None for u in units):
                return None
            segments.append(Segment(above, *(int(u or 0) for u in units)))
    except ValueError:
        return None  # usage this model cannot price: PriceBook raises the same for such rows
    for minimum in (0, 10 * 10**6):
        rates = Rates(tuple(segments), 3600, minimum)
        if _reproduces(book, names, rates, at):
            return rates
        if not any(s.audio for s in segments):
            return None
    return None


def _reproduces(book: PriceBook, names: tuple[str, str], rates: Rates, at: datetime) -> bool:
    probes: list[tuple[int, int, int, float]] = []
    for j, seg in enumerate(rates.segments):
        lo = seg.above + 1
        hi = rates.segments[j + 1].above if j + 1 < len(rates.segments) else MAX_TOKENS
        for i in {lo, lo + 1, min(hi, lo + 777_777), hi}:
            probes += [(i, c, o, 0.0) for c in {0, i // 3, i} for o in (0, 7, MAX_TOKENS)]
        probes += [(lo, 0, 0, s) for s in (0.25, 1.0, 9.999999, 10.0, 61.25, 86_400.0)]
    for i, c, o, s in probes:
        want = book.price_llm_call(
            provider=names[0], model=names[1], input_tokens=i, cached_input_tokens=c, output_tokens=o,
            at=at, audio_seconds=s,
        )  # fmt: skip
        if cost_pico(rates, i, c, o, round(s * 10**6)) != want.cost_usd.scaleb(USD_SCALE):
            return False
    return True


@dataclass(frozen=True, slots=True)
class Schedule:
    """How a genai-prices model's price depends on time: UTC day if dated, plus time-of-day boundaries."""

    names: tuple[str, str]
    found: tuple[Any, Any]
    dated: bool
    boundaries: tuple[int, ...]  # microseconds of the UTC day where an off-peak price starts or ends


def schedule_of(names: tuple[str, str], found: tuple[Any, Any]) -> Schedule:
    prices = found[1].prices
    if not isinstance(prices, list):
        return Schedule(names, found, False, ())
    moments: set[int] = set()
    for conditional in prices:
        if isinstance(conditional.constraint, TimeOfDateConstraint):
            for value in (conditional.constraint.start_time, conditional.constraint.end_time):
                moments.add(_utc_us_of_day(value))
    return Schedule(names, found, True, tuple(sorted(moments - {0})))


def _utc_us_of_day(value: time) -> int:
    utc = value if value.tzinfo is None else datetime.combine(date(1970, 1, 1), value).astimezone(UTC).timetz()
    return ((utc.hour * 60 + utc.minute) * 60 + utc.second) * 10**6 + utc.microsecond
