from __future__ import annotations

from decimal import Decimal

from views_api import forecast as fc

D = Decimal


def test_exact_line_projects_its_continuation_without_band() -> None:
    line = fc.fit([D("1"), D("1.5"), D("2"), D("2.5")])  # 1 + 0.5x
    assert (line.intercept, line.slope, line.residual_std, line.linear) == (D(1), D("0.5"), D(0), True)
    assert line.projection(3) == [D("3.000000"), D("3.500000"), D("4.000000")]
    week, month = fc.outlook(line, 7), fc.outlook(line, 30)
    # x = 4..10: 7 + 0.5 * 49; x = 4..33: 30 + 0.5 * 555
    assert (week.horizon, week.total, week.low, week.high) == (7, D("31.5"), D("31.5"), D("31.5"))
    assert (month.total, month.low, month.high) == (D("307.5"), D("307.5"), D("307.5"))
    assert str(week.total) == "31.500000"
    assert line.method.startswith("ordinary least squares line over the daily cost of the last 4 complete days")


def test_noisy_line_band_is_z_residual_std_sqrt_n() -> None:
    line = fc.fit([D(1), D(3), D(2), D(4)])
    # x̄ = 1.5, ȳ = 2.5, Sxy = 4, Sxx = 5: slope 0.8, intercept 1.3; residuals -0.3, 0.9, -0.9, 0.3
    assert (line.slope, line.intercept) == (D("0.8"), D("1.3"))
    places = D("1e-25")
    assert line.residual_std.quantize(places) == D("0.9").sqrt().quantize(places)  # sqrt(1.8 / (4 - 2))
    total = sum((D("1.3") + D("0.8") * x for x in range(4, 11)), D(0))  # 7 * 1.3 + 0.8 * 49 = 48.3
    band = D("1.96") * D("0.9").sqrt() * D(7).sqrt()
    out = fc.outlook(line, 7)
    q = D("0.000001")
    assert out.total == total.quantize(q) == D("48.3")
    assert out.low == (total - band).quantize(q)
    assert out.high == (total + band).quantize(q)
    assert (out.low, out.high) == (D("43.380439"), D("53.219561"))  # band 1.96 * 0.948683 * 2.645751 = 4.919561


def test_two_days_fit_exactly_and_have_no_band() -> None:
    line = fc.fit([D(2), D(4)])
    assert (line.slope, line.residual_std) == (D(2), D(0))
    out = fc.outlook(line, 7)
    assert out.total == out.low == out.high == sum(D(2 + 2 * x) for x in range(2, 9))


def test_falling_line_is_clamped_at_zero_each_day() -> None:
    line = fc.fit([D(5), D(4), D(3), D(2)])  # 5 - x: 1, 0, -1, ... after the history
    assert line.projection(4) == [D(1), D(0), D(0), D(0)]
    week = fc.outlook(line, 7)
    assert (week.total, week.low, week.high) == (D(1), D(1), D(1))


def test_band_low_never_below_zero() -> None:
    line = fc.fit([D(0), D(10), D(0), D(10), D(0)])  # flat at 4, residual std sqrt(120 / 3)
    out = fc.outlook(line, 7)
    assert out.total == 28 and out.low == 0
    assert out.high == (28 + D("1.96") * D(40).sqrt() * D(7).sqrt()).quantize(D("0.000001"))


def test_fewer_than_two_days_uses_the_mean_rate_without_band() -> None:
    one = fc.fit([D("3.25")])
    assert (one.linear, one.slope, one.residual_std) == (False, D(0), D(0))
    assert one.method.startswith("mean daily cost of the last 1 complete days * N")
    out = fc.outlook(one, 30)
    assert (out.total, out.low, out.high) == (D("97.5"), D("97.5"), D("97.5"))
    assert one.projection(2) == [D("3.25"), D("3.25")]
    none = fc.outlook(fc.fit([]), 7)
    assert (none.total, none.low, none.high) == (D(0), D(0), D(0))


def test_rounding_to_six_places() -> None:
    out = fc.outlook(fc.fit([D("0.0000001234")]), 7)
    assert out.total == D("0.000001") and out.total.as_tuple().exponent == -6
