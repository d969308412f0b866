"""Pricing a batch's LLM calls as columns: Int64 pico-USD equal to `PriceBook`'s Decimal cost, exactly.

Each distinct (tenant, provider, model) of a batch is resolved once, in order of first appearance,
through `PriceBook`: the tenant's own price (`PriceOverride`), a genai-prices model, or an unknown
model (with `PriceBook`'s per-tenant cap and bucket). A genai-prices model's price in force depends on
the UTC date (start-date constraints) and, for off-peak prices, the UTC time of day: a row's price
period is (model, UTC day, slot between the model's time-of-day boundaries), and each distinct period
is resolved once into integer rates (processors/price_rates.py), kept across batches (at most the
book's `price_cache_size`). Every row is then priced with integer column arithmetic (polars Int128):
`base + (input - cached) x uncached + cached x cached_rate + output x output_rate` in the tier chosen
by input tokens (genai-prices' cliff tiers), plus `audio x microseconds / (1e6 x audio_per)` (at least
`audio_min_us` when present: Groq's 10 s), rounded half-even to the pico-dollar as `PriceBook` does.

Rows priced one by one with `PriceBook` instead (exact by construction, slower): periods whose rates
are not integral in yocto-USD or not reproduced on the probes, audio seconds that are not a whole
number of microseconds (`Decimal(repr(s))` is then not us / 1e6), and cached > input tokens (the
contract refuses them; `PriceBook` prices or raises as today). Today's Decimal code divides audio by
3600 (or 60) at 28 significant digits; this cannot move a result across a half-pico boundary within
the Int64 range (an exact value's distance to a boundary is at least 1e-33 USD, the 28-digit rounding
at most 1e-21 below 9.2e6 USD), and the differential tests check it.

Bounds. The result is Int64 pico-USD: at most 9,223,372.036854775807 USD per event. genai-prices' dearest
rate (600 $/MTok) at the contract's maximum of 1e8 tokens per kind is 120,000 USD; a tenant's own rates
may be set higher (`Rate` allows up to 1e8 $/MTok): a result beyond Int64 raises `PriceOverflow`, never
a wrapped value. Int128 intermediates stay below 2^126 under the contract's bounds (1e8 tokens, 86,400 s
of audio), which are checked: a value outside is refused with ValueError naming the column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import polars as pl

from processors import metrics
from processors.price_rates import (
    MAX_AUDIO_US,
    MAX_TOKENS,
    UNITS_PER_PICO,
    Rates,
    Schedule,
    Segment,
    genai_rates,
    override_rates,
    schedule_of,
)
from processors.pricing import PriceBook
from schemas.tenancy import PriceOverride
from schemas.types import USD_SCALE, PriceStatus

OverrideLookup = Callable[[str, str, str], PriceOverride | None]
"""(tenant_id, provider, model) -> the tenant's own price for the model, if it set one."""

STATUS = pl.Enum(list(get_args(PriceStatus)))
INT64_MAX = 2**63 - 1
_DAY_US = 86_400 * 10**6
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER = 2**62  # a tier threshold no input reaches
_TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens")


class PriceOverflow(ValueError):
    """An event's cost does not fit Int64 pico-USD (only a tenant's own extreme rates can do this)."""


_ZERO = Rates((Segment(-1, 0, 0, 0, 0, 0),))
_RATE_COLUMNS = ("base", "uncached", "cached", "output", "audio")


@dataclass(slots=True)
class _Period:
    rates: Rates | None  # None: this period's rows are priced by PriceBook one by one
    pinned: Any  # the ModelPrice or PriceOverride the key was made from, kept so its id stays unique


class PriceTable:
    """Prices columns of LLM calls through one `PriceBook` (its lookups, unknown-model cap and bucket).

    Resolved price periods are kept across batches, at most the book's `price_cache_size` (all dropped
    when full: they are cheap to rebuild). Not thread-safe, like `PriceBook`.
    """

    def __init__(self, book: PriceBook | None = None) -> None:
        self.book = book or PriceBook()
        self._periods: dict[tuple[Any, ...], int] = {}
        self._rates: list[_Period] = [_Period(_ZERO, None)]
        self._frame: pl.DataFrame | None = None
        self._schedules: dict[int, tuple[Any, Schedule]] = {}

    @property
    def periods(self) -> int:
        return len(self._rates) - 1

    def _period(self, key: tuple[Any, ...], make: Callable[[], tuple[Rates | None, Any]]) -> int:
        pid = self._periods.get(key)
        if pid is not None:
            return pid
        rates, pinned = make()
        self._rates.append(_Period(rates, pinned))
        self._frame = None
        pid = self._periods[key] = len(self._rates) - 1
        return pid

    def _override_period(self, override: PriceOverride) -> int:
        return self._period(("override", override), lambda: (override_rates(override), override))

    def _genai_period(self, schedule: Schedule, at: datetime) -> int:
        model_price = schedule.found[1].get_prices(at)

        def make() -> tuple[Rates | None, Any]:
            return genai_rates(self.book, schedule.names, schedule.found, at), model_price

        return self._period(("genai", id(schedule.found[1]), id(model_price)), make)

    def _schedule_of(self, names: tuple[str, str], found: tuple[Any, Any]) -> Schedule:
        held = self._schedules.get(id(found[1]))
        if held is None:
            held = self._schedules[id(found[1])] = (found, schedule_of(names, found))
        return held[1]

    def _rate_frame(self) -> pl.DataFrame:
        if self._frame is None:
            width = max(len(p.rates.segments) for p in self._rates if p.rates is not None)
            columns: dict[str, pl.Series] = {}
            rows = [p.rates or _ZERO for p in self._rates]
            for j in range(width):
                segs = [r.segments[min(j, len(r.segments) - 1)] for r in rows]
                above = [s.above if j < len(r.segments) else _NEVER for s, r in zip(segs, rows, strict=True)]
                columns[f"above{j}"] = pl.Series(above, dtype=pl.Int64)
                for name in _RATE_COLUMNS:
                    columns[f"{name}{j}"] = pl.Series([getattr(s, name) for s in segs], dtype=pl.Int128)
                for name in _RATE_COLUMNS[:4]:  # the same in whole pico-dollars where they are (Int64)
                    columns[f"{name}_p{j}"] = pl.Series([getattr(s, name) // UNITS_PER_PICO for s in segs])
            columns["whole_pico"] = pl.Series([_whole_pico(r) for r in rows])
            columns["per"] = pl.Series([10**6 * r.audio_per for r in rows], dtype=pl.Int128)
            columns["min_us"] = pl.Series([r.audio_min_us for r in rows], dtype=pl.Int64)
            columns["exact"] = pl.Series([p.rates is not None for p in self._rates])
            self._frame = pl.DataFrame(columns)
        return self._frame

    def price(self, calls: pl.DataFrame, overrides: OverrideLookup | None = None) -> pl.DataFrame:
        """`cost_pico` (Int64), `price_status` and the `model` to store, one row per row of `calls`.

        `calls` has tenant_id, provider, model (null provider or model: not an LLM call, not_applicable),
        timestamp (Datetime; naive means UTC), input_tokens, output_tokens, cached_input_tokens, audio_seconds.
        """
        if len(self._rates) > self.book.settings.price_cache_size:  # bounded; only between batches
            self._periods.clear()
            self._schedules.clear()
            del self._rates[1:]
            self._frame = None
        _check_bounds(calls)
        names = calls.select("tenant_id", "provider", "model")
        keys = self._resolve_keys(names.unique(maintain_order=True), overrides)
        rows = names.join(
            keys, on=["tenant_id", "provider", "model"], how="left", maintain_order="left", nulls_equal=True
        )
        epoch = calls.get_column("timestamp").dt.epoch("us")
        pid = self._dated_periods(rows, epoch)
        status = rows.get_column("price_status")
        cost = self._compute(calls, pid)
        fallback = (~cost.get_column("vector") & status.is_in(["priced", "tenant_price"])).arg_true()
        pico = cost.get_column("pico")
        if fallback.len():
            pico = pico.scatter(fallback, self._one_by_one(calls, fallback, overrides))
        out = pl.DataFrame({"cost_pico": pico, "price_status": status, "model": rows.get_column("stored_model")})
        out = self._unknown_models(calls, out)
        top = out.get_column("cost_pico").max()
        if isinstance(top, int) and top > INT64_MAX:
            raise PriceOverflow("an event's cost exceeds 9,223,372 USD (Int64 pico-USD): check the tenant's own rates")
        return out.with_columns(pl.col("cost_pico").cast(pl.Int64))

    def _resolve_keys(self, uniq: pl.DataFrame, overrides: OverrideLookup | None) -> pl.DataFrame:
        statuses: list[str] = []
        pids: list[int] = []
        schedules: list[int] = []
        self._batch_schedules: list[Schedule] = []
        genai: dict[tuple[str, str], tuple[str, int, int]] = {}  # (provider, model) -> status, pid, sid
        for tenant, provider, model in uniq.iter_rows():
            if provider is None or model is None:
                status, pid, sid = "not_applicable", 0, -1
            elif (override := overrides(tenant, provider, model) if overrides else None) is not None:
                status, pid, sid = "tenant_price", self._override_period(override), -1
            elif (known := genai.get((provider, model))) is not None:
                status, pid, sid = known
            else:
                status, pid, sid = genai[provider, model] = self._genai_key(provider, model)
            statuses.append(status)
            pids.append(pid)
            schedules.append(sid)
        width = max((len(s.boundaries) for s in self._batch_schedules), default=0)
        bounds = {
            f"bound{k}": pl.Series([self._boundary(s, k) for s in schedules], dtype=pl.Int64) for k in range(width)
        }
        return uniq.with_columns(
            price_status=pl.Series(statuses, dtype=STATUS),
            pid=pl.Series(pids, dtype=pl.Int64),
            sid=pl.Series(schedules, dtype=pl.Int32),
            stored_model=pl.col("model"),
            **bounds,
        )

    def _genai_key(self, provider: str, model: str) -> tuple[str, int, int]:
        if (found := self.book.lookup(provider, model)) is None:
            return "unknown_model", 0, -1
        schedule = self._schedule_of((provider, model), found)
        if not schedule.dated:
            return "priced", self._genai_period(schedule, _EPOCH), -1
        self._batch_schedules.append(schedule)
        return "priced", -1, len(self._batch_schedules) - 1

    def _boundary(self, sid: int, k: int) -> int:
        if sid < 0:
            return _NEVER
        boundaries = self._batch_schedules[sid].boundaries
        return boundaries[k] if k < len(boundaries) else _NEVER

    def _dated_periods(self, rows: pl.DataFrame, epoch: pl.Series) -> pl.Series:
        """Each row's price period: fixed per key, or per (model, UTC day, time-of-day slot) if dated."""
        pid = rows.get_column("pid")
        if not self._batch_schedules:
            return pid
        slot = pl.sum_horizontal(
            [(pl.col("tod") >= pl.col(c)).cast(pl.Int32) for c in rows.columns if c.startswith("bound")] or [pl.lit(0)]
        )
        frame = rows.select("sid", "pid", *(c for c in rows.columns if c.startswith("bound"))).with_columns(
            day=epoch // _DAY_US, tod=epoch % _DAY_US
        )
        frame = frame.select("sid", "pid", "day", slot=slot)
        dated = frame.filter(pl.col("pid") < 0).select("sid", "day", "slot").unique()
        resolved = []
        for sid, day, slot_no in dated.iter_rows():
            schedule = self._batch_schedules[sid]
            start = schedule.boundaries[slot_no - 1] if slot_no else 0
            resolved.append(self._genai_period(schedule, _EPOCH + timedelta(days=day, microseconds=start)))
        dated = dated.with_columns(dated_pid=pl.Series(resolved, dtype=pl.Int64))
        joined = frame.join(dated, on=["sid", "day", "slot"], how="left", maintain_order="left")
        return joined.select(pl.coalesce(pl.col("dated_pid"), pl.col("pid")).alias("pid")).to_series()

    def _compute(self, calls: pl.DataFrame, pid: pl.Series) -> pl.DataFrame:
        """`pico` (Int128) for every row by the rates of its period, and `vector`: whether that is exact."""
        table = self._rate_frame()
        width = sum(1 for c in table.columns if c.startswith("above"))
        frame = pl.concat(
            [calls.select(*_TOKENS, "audio_seconds"), table.select(pl.all().gather(pid))], how="horizontal"
        )
        i, o, c = (pl.col(name).cast(pl.Int128) for name in _TOKENS)

        def pick(name: str) -> pl.Expr:
            expr = pl.col(f"{name}0")
            for j in range(1, width):
                expr = pl.when(pl.col("input_tokens") > pl.col(f"above{j}")).then(pl.col(f"{name}{j}")).otherwise(expr)
            return expr

        tokens = pick("base") + (i - c) * pick("uncached") + c * pick("cached") + o * pick("output")
        seconds = pl.col("audio_seconds")
        audio_us = (seconds * 10**6).round().cast(pl.Int64)
        exact_audio = audio_us.cast(pl.Float64) / 10**6 == seconds
        vector = pl.col("exact") & (pl.col("cached_input_tokens") <= pl.col("input_tokens")) & exact_audio
        no_audio = (calls.get_column("audio_seconds").max() or 0) == 0
        if no_audio and frame.get_column("whole_pico").all():  # whole pico-dollars a token: no rounding
            i64, o64, c64 = (pl.col(name) for name in _TOKENS)
            pico = pick("base_p") + (i64 - c64) * pick("uncached_p") + c64 * pick("cached_p") + o64 * pick("output_p")
            return frame.select(pico=pico, vector=vector)
        if no_audio:
            q, rem, den = tokens // UNITS_PER_PICO, tokens % UNITS_PER_PICO, pl.lit(UNITS_PER_PICO, pl.Int128)
            frame = frame.select(q=q, rem=rem, den=den, vector=vector)
        else:
            billed = pl.when(audio_us > 0).then(pl.max_horizontal(audio_us, pl.col("min_us"))).otherwise(0)
            per, den = pl.col("per"), pl.col("per") * UNITS_PER_PICO
            audio = pick("audio") * billed.cast(pl.Int128)
            frame = frame.select(
                q_tokens=tokens // UNITS_PER_PICO,
                frac=tokens % UNITS_PER_PICO * per + audio % den,
                q_audio=audio // den,
                den=den,
                vector=vector,
            ).select(
                q=pl.col("q_tokens") + pl.col("q_audio") + pl.col("frac") // pl.col("den"),
                rem=pl.col("frac") % pl.col("den"),
                den="den",
                vector="vector",
            )
        up = (2 * pl.col("rem") > pl.col("den")) | ((2 * pl.col("rem") == pl.col("den")) & (pl.col("q") % 2 == 1))
        return frame.select(pico=pl.col("q") + up.cast(pl.Int128), vector="vector")

    def _one_by_one(self, calls: pl.DataFrame, rows: pl.Series, overrides: OverrideLookup | None) -> pl.Series:
        """`PriceBook`'s Decimal price of these rows, in pico-USD (periods not vectorised, odd audio seconds)."""
        picos = []
        for call in calls[rows].iter_rows(named=True):
            tenant, provider, model = call["tenant_id"], call["provider"], call["model"]
            at = call["timestamp"] if call["timestamp"].tzinfo else call["timestamp"].replace(tzinfo=UTC)
            price = self.book.price_llm_call(
                tenant_id=tenant, provider=provider, model=model, at=at, audio_seconds=call["audio_seconds"],
                input_tokens=call["input_tokens"], output_tokens=call["output_tokens"],
                cached_input_tokens=call["cached_input_tokens"],
                override=overrides(tenant, provider, model) if overrides else None,
            )  # fmt: skip
            picos.append(int(price.cost_usd.scaleb(USD_SCALE)))
        return pl.Series(picos, dtype=pl.Int128)

    def _unknown_models(self, calls: pl.DataFrame, out: pl.DataFrame) -> pl.DataFrame:
        """Unknown models under `PriceBook`'s per-tenant cap, as if each row had been priced in order.

        Each distinct (tenant, provider, model) asks the book once: the same answers, the same count of
        bucketed calls and the same book afterwards as one call per row, unless the book could forget a
        tenant during the batch (more tenants than `pricing_tenants_tracked`): then row by row.
        """
        unknown = out.get_column("price_status") == "unknown_model"
        if not unknown.any():
            return out
        rows = calls.select("tenant_id", "provider", "model").with_row_index("row").filter(unknown)
        tenants = rows.get_column("tenant_id").n_unique()
        stored: list[str]
        if self.book.tenants_tracked + tenants > self.book.settings.pricing_tenants_tracked:
            stored = [self._ask_unknown(t, p, m) for _, t, p, m in rows.iter_rows()]
            return out.with_columns(model=out.get_column("model").scatter(rows.get_column("row"), stored))
        # Tenants are independent while none is forgotten; a tenant's models are asked in order of first
        # appearance (who gets under the cap), tenants in order of their last unknown call (the book keeps
        # the least recently seen first), so the book ends as it would after one call per row.
        keys = (
            rows.group_by("tenant_id", "provider", "model", maintain_order=True)
            .agg(first=pl.col("row").first(), last=pl.col("row").last(), n=pl.len())
            .with_columns(tenant_last=pl.col("last").max().over("tenant_id"))
            .sort("tenant_last", "first")
        )
        stored = [self._ask_unknown(t, p, m) for t, p, m, *_ in keys.iter_rows()]
        keys = keys.with_columns(stored_model=pl.Series(stored, dtype=pl.String))
        bucketed = keys.filter(pl.col("stored_model") != pl.col("model"))
        extra = int(bucketed.get_column("n").sum()) - bucketed.height
        if extra:  # one call per bucketed row counted, as row by row
            metrics.UNKNOWN_MODELS_BUCKETED.inc(extra)
        per_row = rows.join(
            keys.select("tenant_id", "provider", "model", "stored_model"),
            on=["tenant_id", "provider", "model"],
            how="left",
            maintain_order="left",
        )
        return out.with_columns(
            model=out.get_column("model").scatter(rows.get_column("row"), per_row.get_column("stored_model"))
        )

    def _ask_unknown(self, tenant: str, provider: str, model: str) -> str:
        price = self.book.price_llm_call(
            tenant_id=tenant, provider=provider, model=model, input_tokens=0, output_tokens=0, cached_input_tokens=0,
            at=_EPOCH,
        )  # fmt: skip
        return price.stored_model or model


def _whole_pico(rates: Rates) -> bool:
    """Rates in whole pico-dollars, small enough that no Int64 sum of the contract's counts overflows."""
    rates_of = [(s.base, s.uncached, s.cached, s.output) for s in rates.segments]
    small = all(3 * MAX_TOKENS * max(r) + r[0] < INT64_MAX * UNITS_PER_PICO for r in rates_of)
    return small and all(v % UNITS_PER_PICO == 0 for r in rates_of for v in r)


def _check_bounds(calls: pl.DataFrame) -> None:
    """The contract's bounds, which keep the Int128 arithmetic exact; a value outside is refused by name."""
    for name, top in (*((t, MAX_TOKENS) for t in _TOKENS), ("audio_seconds", MAX_AUDIO_US // 10**6)):
        column = calls.get_column(name)
        if column.null_count() or (column.dtype.is_float() and column.is_nan().any()):
            raise ValueError(f"{name}: missing or not a number")
        if column.len() and not (0 <= column.min() <= column.max() <= top):  # type: ignore[operator]
            raise ValueError(f"{name}: must be between 0 and {top}")
