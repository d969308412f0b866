// Overview: KPI cards with change vs the previous period, sessions over time, messages user vs
// assistant, cost by model, hourly activity heatmap.

import { get, tenantPath } from "../api.js";
import { bars, donut, line } from "../charts.js";
import { count, day, escape, money } from "../format.js";
import { chartSlot, el, grid, kpi, newRoot, section } from "./common.js";

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export async function render(root, ctx) {
  const drawers = newRoot(root);
  const [today, sessions, messages, costs, hourly] = await Promise.all([
    get(tenantPath("/overview")),
    get(tenantPath("/sessions"), ctx.range),
    get(tenantPath("/messages"), ctx.range),
    get(tenantPath("/costs"), ctx.range),
    get(tenantPath("/activity/hourly"), ctx.range),
  ]);
  const tz = sessions.period.tz, g = sessions.period.granularity;
  root.append(el(`<h1>Overview <span class="muted">· ${escape(ctx.rangeName)}</span></h1>`));
  const cards = grid(root);
  kpi(cards, { id: "sessions", label: "Sessions started", value: sessions.total_started, text: count(sessions.total_started), delta: sessions.change_pct });
  kpi(cards, { id: "messages", label: "Messages", value: messages.total, text: count(messages.total), delta: messages.change_pct });
  kpi(cards, { id: "cost", label: "LLM cost", value: costs.total_cost_usd, text: money(costs.total_cost_usd), delta: costs.change_pct });
  kpi(cards, { id: "requests", label: "LLM calls", value: costs.total_requests, text: count(costs.total_requests) });
  kpi(cards, { id: "active", label: "Active sessions (last hour)", value: today.active_sessions, text: count(today.active_sessions) });
  kpi(cards, { id: "cost-today", label: "Cost today", value: today.cost_today_usd, text: money(today.cost_today_usd), delta: today.cost_change_pct, versus: "yesterday" });

  const charts = grid(root, true);
  const labels = sessions.points.map((p) => day(p.start, tz, g));
  chartSlot(charts, drawers, "Sessions over time", (c) => line(c, labels, [
    { label: "Started", data: sessions.points.map((p) => p.started) },
    { label: "Active", data: sessions.points.map((p) => p.active) },
  ]), sessions.points.every((p) => !p.active));
  chartSlot(charts, drawers, "Message volume", (c) => bars(c, messages.points.map((p) => day(p.start, tz, g)), [
    { label: "User", data: messages.points.map((p) => p.user) },
    { label: "Assistant", data: messages.points.map((p) => p.assistant) },
  ]), messages.total === 0);
  chartSlot(charts, drawers, "Cost by model", (c) => donut(c,
    costs.by_model.map((m) => `${m.provider}/${m.model}`), costs.by_model.map((m) => Number(m.cost_usd))), !costs.by_model.length);

  const heat = section(root, "Hourly activity (messages, weekday × hour)");
  const max = Math.max(1, ...hourly.heatmap.flat());
  const head = Array.from({ length: 24 }, (_, h) => `<th>${h}</th>`).join("");
  const body = hourly.heatmap.map((row, d) => `<tr><th>${DAYS[d]}</th>${row.map((n, h) =>
    `<td title="${DAYS[d]} ${h}:00 — ${n} messages" data-value="${n}" style="background: rgba(59,108,246,${(n / max).toFixed(3)})"></td>`).join("")}</tr>`).join("");
  heat.append(el(`<div class="table-wrap"><table class="heatmap" data-testid="heatmap"><thead><tr><th></th>${head}</tr></thead><tbody>${body}</tbody></table></div>`));
}
