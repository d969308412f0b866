// Costs: trend with the 7/30-day forecast band, model comparison, domain table, budget status.

import { get, download, tenantPath } from "../api.js";
import { line } from "../charts.js";
import { count, day, escape, money, ms, pct, tokens } from "../format.js";
import { chartSlot, el, grid, kpi, newRoot, section, table } from "./common.js";

// This month so far in the tenant's zone, as of the server's clock (`asOf`).
function monthToDate(tz, asOf) {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(asOf));
  return { from: `${today.slice(0, 8)}01`, to: today, granularity: "day" };
}

export async function render(root, ctx) {
  const drawers = newRoot(root);
  const tz = ctx.info.timezone;
  const [costs, forecast, models, telemetry, today] = await Promise.all([
    get(tenantPath("/costs"), ctx.range),
    get(tenantPath("/forecast")),
    get(tenantPath("/models"), ctx.range),
    get(tenantPath("/telemetry"), ctx.range),
    get(tenantPath("/overview")),
  ]);
  const month = await get(tenantPath("/costs"), monthToDate(tz, today.as_of));
  const g = costs.period.granularity;
  const head = el(`<div class="row"><h1>Costs <span class="muted">· ${escape(ctx.rangeName)}</span></h1></div>`);
  const exportButton = el(`<button data-testid="export-csv">Export CSV</button>`);
  const exportStatus = el(`<span class="muted" data-testid="export-status"></span>`);
  exportButton.addEventListener("click", async () => {
    exportStatus.textContent = "Preparing…";
    try {
      const name = await download(tenantPath("/export/csv"), ctx.range, "tallystream.csv");
      exportStatus.textContent = `Downloaded ${name}`;
    } catch (error) { exportStatus.textContent = `Export failed: ${error.message}`; }
  });
  head.append(exportButton, exportStatus);
  root.append(head);

  const cards = grid(root);
  kpi(cards, { id: "total-cost", label: "LLM cost", value: costs.total_cost_usd, text: money(costs.total_cost_usd), delta: costs.change_pct });
  kpi(cards, { id: "total-requests", label: "LLM calls", value: costs.total_requests, text: count(costs.total_requests) });
  kpi(cards, { id: "input-tokens", label: "Input tokens", value: costs.total_input_tokens, text: tokens(costs.total_input_tokens) });
  kpi(cards, { id: "output-tokens", label: "Output tokens", value: costs.total_output_tokens, text: tokens(costs.total_output_tokens) });
  kpi(cards, { id: "forecast-7", label: "Forecast next 7 days", value: forecast.next_7_days.total_usd,
    text: money(forecast.next_7_days.total_usd) });
  kpi(cards, { id: "forecast-30", label: "Forecast next 30 days", value: forecast.next_30_days.total_usd,
    text: money(forecast.next_30_days.total_usd) });

  const trend = grid(root, true);
  chartSlot(trend, drawers, "Cost trend", (c) => line(c, costs.points.map((p) => day(p.start, costs.period.tz, g)), [
    { label: "Cost (USD)", data: costs.points.map((p) => Number(p.cost_usd)) },
  ], "USD"), !costs.points.some((p) => Number(p.cost_usd) > 0));
  const history = forecast.history.map((d) => ({ x: day(d.start, tz, "day"), y: Number(d.cost_usd) }));
  const projected = forecast.projection.map((d) => ({ x: day(d.start, tz, "day"), y: Number(d.cost_usd) }));
  const band = 1.96 * Number(forecast.residual_std_usd);  // per day: the daily residual's 95 % interval
  const card = chartSlot(trend, drawers, "Daily cost and 30-day forecast", (c) => line(c,
    [...history.map((p) => p.x), ...projected.map((p) => p.x)], [
      { label: "Daily cost", data: [...history.map((p) => p.y), ...projected.map(() => null)] },
      { label: "Forecast", data: [...history.map(() => null), ...projected.map((p) => p.y)], borderDash: [6, 4] },
      { label: "95 % band", data: [...history.map(() => null), ...projected.map((p) => p.y + band)], pointRadius: 0,
        borderWidth: 0, backgroundColor: "rgba(18,184,134,0.15)", fill: "+1" },
      { label: "", data: [...history.map(() => null), ...projected.map((p) => Math.max(0, p.y - band))], pointRadius: 0,
        borderWidth: 0 },
    ], "USD"), !forecast.history.length);
  card.append(el(`<p class="muted" data-testid="forecast-method">${escape(forecast.method)} · next 7 days ${money(forecast.next_7_days.low_usd)} – ${money(forecast.next_7_days.high_usd)}, next 30 days ${money(forecast.next_30_days.low_usd)} – ${money(forecast.next_30_days.high_usd)}</p>`));

  const compare = section(root, "Model comparison");
  table(compare, [
    { label: "Provider / model", value: (m) => `${m.provider}/${m.model}` },
    { label: "Calls", num: true, value: (m) => count(m.requests), raw: (m) => m.requests },
    { label: "Errors", num: true, value: (m) => pct(m.error_rate_pct) },
    { label: "Tokens in / out", num: true, value: (m) => `${count(m.input_tokens)} / ${count(m.output_tokens)}` },
    { label: "Cost", num: true, value: (m) => money(m.cost_usd), raw: (m) => m.cost_usd },
    { label: "p50 / p95", num: true, value: (m) => `${ms(m.p50_latency_ms)} / ${ms(m.p95_latency_ms)}` },
    { label: "Share", num: true, value: (m) => pct(m.cost_share_pct) },
  ], models.models, { testid: "models" });

  const lower = grid(root, true);
  const domains = section(lower, "Domains");
  table(domains, [
    { label: "Domain", value: (d) => d.domain || "(none)" },
    { label: "Calls", num: true, value: (d) => count(d.requests) },
    { label: "Cost", num: true, value: (d) => money(d.cost), raw: (d) => d.cost },
  ], telemetry.domain_breakdown, { testid: "domains" });
  const budget = section(lower, "Budget this month");
  const spent = Number(month.total_cost_usd);
  const limit = ctx.info.monthly_budget_usd;
  if (limit === null || limit === undefined) {
    budget.append(el(`<p data-testid="budget"> ${money(spent)} spent this month; no monthly budget is set for this tenant.</p>`));
  } else {
    const used = (spent * 100) / Number(limit);
    budget.append(el(`<div data-testid="budget" data-value="${used.toFixed(2)}"><p>${money(spent)} of ${money(limit)} (${pct(used)})</p>
      <div class="bar"><span style="width:${Math.min(100, used).toFixed(1)}%"></span></div></div>`));
  }
}
