// Admin: tenants ranked by cost, requests or error rate, and domains across tenants (operator keys).

import { get } from "../api.js";
import { count, escape, money, pct } from "../format.js";
import { el, newRoot, section, table } from "./common.js";

export async function render(root, ctx) {
  newRoot(root);
  root.append(el(`<h1>Platform <span class="muted">· ${escape(ctx.rangeName)}</span></h1>`));
  const params = ctx.range.period ? { period: ctx.range.period } : {};
  let ranking, domains;
  try {
    [ranking, domains] = await Promise.all([get("/api/admin/tenants", { ...params, sort: "cost" }), get("/api/admin/domains", params)]);
  } catch (error) {
    if (error.status === 403 || error.status === 401) {
      root.append(el(`<div class="state" data-state="forbidden">Platform views need an operator admin key.</div>`));
      return;
    }
    throw error;
  }
  const tenants = section(root, "Tenants by cost");
  table(tenants, [
    { label: "Tenant", value: (t) => `${t.name || t.tenant_id} (${t.tenant_id})` },
    { label: "Cost", num: true, value: (t) => money(t.cost_usd), raw: (t) => t.cost_usd },
    { label: "LLM calls", num: true, value: (t) => count(t.requests) },
    { label: "Error rate", num: true, value: (t) => pct(t.error_rate_pct) },
    { label: "Sessions", num: true, value: (t) => count(t.sessions) },
  ], ranking.tenants, { testid: "tenants" });
  const byDomain = section(root, "Domains");
  table(byDomain, [
    { label: "Domain", value: (d) => d.domain || "(none)" },
    { label: "Tenants", num: true, value: (d) => count(d.tenants) },
    { label: "LLM calls", num: true, value: (d) => count(d.requests) },
    { label: "Cost", num: true, value: (d) => money(d.cost_usd) },
  ], domains.domains, { testid: "domains" });
}
