// Alerts: rules (create and edit), active alerts, history; acknowledge and silence.

import { get, send, tenantPath } from "../api.js";
import { escape, when } from "../format.js";
import { el, grid, newRoot, section, table } from "./common.js";

const METRICS = ["cost", "requests", "tokens", "error_rate", "latency_p95", "unknown_model", "budget_used_pct", "projected_budget_pct"];
const WINDOWS = ["5m", "15m", "1h", "day", "month"];
const options = (values, selected) => values.map((v) => `<option ${v === selected ? "selected" : ""}>${v}</option>`).join("");

function ruleForm(rule, onSave) {
  const r = rule || { name: "", metric: "cost", window: "day", comparator: "gt", threshold: "50", min_samples: 0,
    for_seconds: 0, resolve_after_seconds: 60, repeat_seconds: 0, severity: "warning", channels: [] };
  const hook = (r.channels || []).find((c) => c.kind === "webhook");
  const form = el(`<form class="card" data-testid="rule-form">
    <h2>${rule ? `Edit ${escape(rule.name)}` : "New rule"}</h2>
    <label>Name <input name="name" required value="${escape(r.name)}"></label>
    <div class="row">
      <label>Metric <select name="metric">${options(METRICS, r.metric)}</select></label>
      <label>Window <select name="window">${options(WINDOWS, r.window)}</select></label>
      <label>Comparator <select name="comparator">${options(["gt", "gte", "lt", "lte"], r.comparator)}</select></label>
      <label>Threshold <input name="threshold" required inputmode="decimal" value="${escape(r.threshold)}"></label>
    </div>
    <div class="row">
      <label>Min samples <input name="min_samples" type="number" min="0" value="${r.min_samples}"></label>
      <label>For (s) <input name="for_seconds" type="number" min="0" value="${r.for_seconds}"></label>
      <label>Resolve after (s) <input name="resolve_after_seconds" type="number" min="0" value="${r.resolve_after_seconds}"></label>
      <label>Remind every (s) <input name="repeat_seconds" type="number" min="0" value="${r.repeat_seconds}"></label>
      <label>Severity <select name="severity">${options(["info", "warning", "critical"], r.severity)}</select></label>
    </div>
    <label>Webhook URL (optional) <input name="webhook" type="url" value=""
      placeholder="${escape(hook ? `unchanged: ${hook.target}` : "https://…")}"></label>
    <label>Webhook secret <input name="secret" type="password" minlength="16" value=""
      placeholder="${hook ? "unchanged (secrets are write-only)" : ""}"></label>
    <div class="row"><button type="submit">Save rule</button><span class="error" data-testid="rule-error"></span></div>
  </form>`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    // Saved channels come back masked: keep them by id; a new webhook URL + secret replaces the webhook.
    const channels = (r.channels || []).filter((c) => c.kind !== "webhook" || !f.webhook.value)
      .map((c) => ({ kind: "keep", id: c.id }));
    if (f.webhook.value) channels.push({ kind: "webhook", url: f.webhook.value, secret: f.secret.value });
    const body = {
      name: f.name.value, metric: f.metric.value, window: f.window.value, comparator: f.comparator.value,
      threshold: f.threshold.value, min_samples: Number(f.min_samples.value), for_seconds: Number(f.for_seconds.value),
      resolve_after_seconds: Number(f.resolve_after_seconds.value), repeat_seconds: Number(f.repeat_seconds.value),
      severity: f.severity.value, channels,
    };
    try { await onSave(body); } catch (error) { form.querySelector("[data-testid=rule-error]").textContent = error.message; }
  });
  return form;
}

export async function render(root, ctx) {
  newRoot(root);
  const [rules, active, history] = await Promise.all([
    get(tenantPath("/alerts/rules")), get(tenantPath("/alerts/active")), get(tenantPath("/alerts/history"), { days: 30 }),
  ]);
  root.append(el(`<h1>Alerts</h1>`));
  const editor = el(`<div></div>`);
  const newButton = el(`<button class="primary" data-testid="new-rule">New rule</button>`);
  newButton.addEventListener("click", () => editor.replaceChildren(ruleForm(null, async (body) => {
    await send("POST", tenantPath("/alerts/rules"), body);
    ctx.refresh();
  })));
  root.append(el(`<div class="row"></div>`));
  root.lastChild.append(newButton);
  root.append(editor);

  const g = grid(root, true);
  const activeCard = section(g, "Active");
  table(activeCard, [
    { label: "Rule", value: (a) => a.name },
    { label: "State", value: (a) => el(`<span class="badge ${a.kind}">${a.kind}</span>`) },
    { label: "Since", value: (a) => when(a.at, ctx.info.timezone) },
    { label: "Value", num: true, value: (a) => (a.value === null ? "–" : Number(a.value).toFixed(2)) },
  ], active.alerts, { testid: "active-alerts", empty: "Nothing firing" });

  const rulesCard = section(root, "Rules");
  table(rulesCard, [
    { label: "Rule", value: (x) => x.rule.name },
    { label: "Condition", value: (x) => `${x.rule.metric} (${x.rule.window}) ${x.rule.comparator} ${x.rule.threshold}` },
    { label: "Severity", value: (x) => el(`<span class="badge ${x.rule.severity}">${x.rule.severity}</span>`) },
    { label: "Channels", value: (x) => x.rule.channels.map((c) => `${c.kind} ${c.target}`).join(", ") || "tenant default" },
    { label: "", value: (x) => {
      const span = el(`<span class="row" style="margin:0"></span>`);
      const actions = [
        ["Edit", () => editor.replaceChildren(ruleForm(x.rule, async (body) => {
          await send("PUT", tenantPath(`/alerts/rules/${x.rule.rule_id}`), body);
          ctx.refresh();
        }))],
        ["Ack", async () => { await send("POST", tenantPath(`/alerts/rules/${x.rule.rule_id}/ack`)); ctx.refresh(); }],
        ["Silence 1 h", async () => { await send("POST", tenantPath(`/alerts/rules/${x.rule.rule_id}/silence`), { minutes: 60 }); ctx.refresh(); }],
      ];
      for (const [label, action] of actions) {
        const b = el(`<button>${label}</button>`);
        b.addEventListener("click", (event) => { event.stopPropagation(); action().catch((e) => alert(e.message)); });
        span.append(b);
      }
      if (x.silenced_until) span.append(el(`<span class="muted">silenced until ${escape(when(x.silenced_until, ctx.info.timezone))}</span>`));
      return span;
    } },
  ], rules.rules, { testid: "rules" });

  const historyCard = section(root, "History (30 days)");
  table(historyCard, [
    { label: "At", value: (h) => when(h.at, ctx.info.timezone) },
    { label: "Rule", value: (h) => h.name },
    { label: "Change", value: (h) => el(`<span class="badge ${h.kind}">${h.kind}</span>`) },
    { label: "Value", num: true, value: (h) => (h.value === null ? "–" : Number(h.value).toFixed(2)) },
    { label: "Deliveries", value: (h) => h.deliveries.map((d) => `${d.channel}: ${d.status}`).join(", ") || (h.silenced ? "silenced" : "–") },
  ], history.items, { testid: "alert-history", empty: "No alert changes in 30 days" });
}
