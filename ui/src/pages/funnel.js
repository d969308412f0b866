// Funnel (sessions -> viewed -> clicked -> cart -> converted) and weekly cohorts' retention.

import { get, tenantPath } from "../api.js";
import { bars } from "../charts.js";
import { count, day, escape, pct } from "../format.js";
import { chartSlot, el, grid, newRoot, section, table } from "./common.js";

const LABELS = { sessions: "Sessions", product_viewed: "Product viewed", clicked: "Clicked", added_to_cart: "Added to cart", converted: "Converted" };

export async function render(root, ctx) {
  const drawers = newRoot(root);
  const [funnel, cohorts] = await Promise.all([get(tenantPath("/funnel"), ctx.range), get(tenantPath("/cohorts"), { weeks: 8 })]);
  root.append(el(`<h1>Funnel &amp; cohorts <span class="muted">· ${escape(ctx.rangeName)}</span></h1>`));
  const g = grid(root, true);
  chartSlot(g, drawers, "Conversion funnel", (c) => bars(c, funnel.stages.map((s) => LABELS[s.stage] || s.stage),
    [{ label: "Sessions", data: funnel.stages.map((s) => s.count) }], false), !funnel.stages.some((s) => s.count));
  const stages = section(g, "Stages");
  table(stages, [
    { label: "Stage", value: (s) => LABELS[s.stage] || s.stage },
    { label: "Sessions", num: true, value: (s) => count(s.count), raw: (s) => s.count },
    { label: "From previous", num: true, value: (s) => pct(s.from_previous_pct) },
    { label: "From first", num: true, value: (s) => pct(s.from_first_pct) },
    { label: "Drop-off", num: true, value: (s) => (s.drop_off === null ? "–" : `${count(s.drop_off)} (${pct(s.drop_off_pct)})`) },
  ], funnel.stages, { testid: "funnel" });
  const daily = section(root, "By day");
  table(daily, [
    { label: "Day", value: (d) => day(d.start, funnel.period.tz, funnel.period.granularity) },
    ...Object.entries(LABELS).map(([key, label]) => ({ label, num: true, value: (d) => count(d[key]) })),
  ], funnel.daily.filter((d) => d.sessions || d.product_viewed || d.converted));
  const cohortCard = section(root, "Cohorts: end users by first-seen week, retention");
  table(cohortCard, [
    { label: "Week", value: (c) => day(c.week_start, cohorts.tz, "day") },
    { label: "Users", num: true, value: (c) => count(c.size) },
    ...[0, 1, 2, 3, 4].map((w) => ({ label: `Week ${w}`, num: true, value: (c) => pct(c.retention_pct[w], 0) })),
    { label: "Converted", num: true, value: (c) => pct(c.conversion_pct) },
  ], cohorts.cohorts.filter((c) => c.size > 0), { testid: "cohorts", empty: "No end users in these weeks" });
}
