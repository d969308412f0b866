// Products: top recommended, inquired and clicked products, and products people searched for in vain.

import { get, tenantPath } from "../api.js";
import { count, escape, when } from "../format.js";
import { el, grid, newRoot, section, table } from "./common.js";

const KINDS = [["recommended", "Top recommended"], ["inquired", "Most inquired"], ["clicked", "Most clicked"]];

export async function render(root, ctx) {
  newRoot(root);
  const [lists, missing] = await Promise.all([
    Promise.all(KINDS.map(([kind]) => get(tenantPath("/products/top"), { ...ctx.range, event_type: kind, limit: 10 }))),
    get(tenantPath("/missing-products"), ctx.range),
  ]);
  root.append(el(`<h1>Products <span class="muted">· ${escape(ctx.rangeName)}</span></h1>`));
  const g = grid(root, true);
  KINDS.forEach(([kind, title], i) => {
    const card = section(g, title);
    table(card, [
      { label: "Product", value: (p) => p.product_name || p.product_id },
      { label: "Events", num: true, value: (p) => count(p.count), raw: (p) => p.count },
      { label: "Sessions", num: true, value: (p) => count(p.sessions) },
    ], lists[i].products, { testid: `products-${kind}` });
  });
  const card = section(root, "Missing products (searches with no results)");
  card.append(el(`<p class="muted">${count(missing.statistics.total_missing_products)} products, ${count(missing.statistics.total_requests)} requests</p>`));
  table(card, [
    { label: "Product", value: (p) => p.name },
    { label: "Requests", num: true, value: (p) => count(p.count), raw: (p) => p.count },
    { label: "Last requested", value: (p) => when(p.last_requested, ctx.info.timezone) },
    { label: "Examples", value: (p) => p.examples.join(" · ") },
  ], missing.missing_products, { testid: "missing-products" });
  if (missing.recommendations.length) {
    card.append(el(`<ul>${missing.recommendations.map((r) => `<li>${escape(r)}</li>`).join("")}</ul>`));
  }
}
