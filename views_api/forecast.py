"""Cost forecasts from a daily cost history (pure): an ordinary least squares line and its band.

The history is one cost per complete day, oldest first (day x = 0 .. n-1). With two days or more,
the forecast of the next N days (x = n .. n+N-1) is the sum of the fitted line over them, each day
clamped at 0 (costs are never negative), with a band of ±1.96 * the residual standard deviation *
sqrt(N) (the residual standard deviation is sqrt(sum of squared residuals / (n - 2)), 0 with two days). With fewer than
two days, it is the mean daily cost * N with no band. Arithmetic is Decimal throughout; the
results are rounded to 6 places (half-even).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Final

from views_api.reading import money

Z: Final = Decimal("1.96")
"""The band's multiplier (about 95% of normal residuals)."""
LINEAR: Final = (
    "ordinary least squares line over the daily cost of the last {n} complete days; projection = sum of the "
    "fitted line over the next N days (each day clamped at 0); band = ±1.96 * residual std * sqrt(N)"
)
MEAN: Final = "mean daily cost of the last {n} complete days * N (fewer than 2 days of history: no band)"


@dataclass(frozen=True)
class Fit:
    """A line fitted to a daily history: cost(x) = intercept + slope * x, x = days since the first."""

    days: int
    """Days of history."""
    intercept: Decimal
    slope: Decimal
    residual_std: Decimal
    linear: bool
    """False when the history was too short for a line (the mean with a zero slope)."""

    @property
    def method(self) -> str:
        return (LINEAR if self.linear else MEAN).format(n=self.days)

    def day(self, x: int) -> Decimal:
        """The fitted cost of day `x`, clamped at 0 (unrounded)."""
        return max(self.intercept + self.slope * x, Decimal(0))

    def projection(self, horizon: int) -> list[Decimal]:
        """The fitted cost of each of the `horizon` days after the history (rounded to 6 places)."""
        with localcontext(prec=50):
            return [money(self.day(self.days + i)) for i in range(horizon)]


@dataclass(frozen=True)
class Outlook:
    """The forecast total of the next `horizon` days and its band (rounded to 6 places, low ≥ 0)."""

    horizon: int
    total: Decimal
    low: Decimal
    high: Decimal


def fit(history: Sequence[Decimal]) -> Fit:
    """The least squares line through `history` (one cost per day, oldest first)."""
    n = len(history)
    with localcontext(prec=50):
        if n < 2:
            mean = sum(history, Decimal(0)) / n if n else Decimal(0)
            return Fit(n, mean, Decimal(0), Decimal(0), linear=False)
        x_mean = Decimal(n - 1) / 2
        y_mean = sum(history, Decimal(0)) / n
        sxx = sum(((x - x_mean) ** 2 for x in range(n)), Decimal(0))
        sxy = sum(((x - x_mean) * (y - y_mean) for x, y in enumerate(history)), Decimal(0))
        slope = sxy / sxx
        intercept = y_mean - slope * x_mean
        ssr = sum(((y - intercept - slope * x) ** 2 for x, y in enumerate(history)), Decimal(0))
        std = (ssr / (n - 2)).sqrt() if n > 2 else Decimal(0)
        return Fit(n, intercept, slope, std, linear=True)


def outlook(line: Fit, horizon: int) -> Outlook:
    """The total of the next `horizon` days: the sum of the clamped line, ± Z * residual std * sqrt(horizon)."""
    with localcontext(prec=50):
        total = sum((line.day(line.days + i) for i in range(horizon)), Decimal(0))
        band = Z * line.residual_std * Decimal(horizon).sqrt()
        return Outlook(horizon, money(total), money(max(total - band, Decimal(0))), money(total + band))
