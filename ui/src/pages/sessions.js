// Sessions: the recent list with search, and a drill-down with the session's messages and LLM calls.

import { get, tenantPath } from "../api.js";
import { count, escape, money, ms, when } from "../format.js";
import { el, newRoot, section, table } from "./common.js";

export async function render(root, ctx) {
  newRoot(root);
  const tz = ctx.info.timezone;
  root.append(el(`<h1>Sessions</h1>`));
  const bar = el(`<form class="row" data-testid="session-search"><input name="q" placeholder="Session or end-user id" aria-label="Search sessions"><button type="submit">Search</button></form>`);
  root.append(bar);
  const list = section(root, "Recent sessions");
  const detail = el(`<div data-testid="session-detail"></div>`);
  root.append(detail);

  async function load(q) {
    const data = await get(tenantPath("/sessions/recent"), { limit: 50, days: 30, q });
    list.querySelector(".table-wrap, .state")?.remove();
    table(list, [
      { label: "Session", value: (s) => s.session_id },
      { label: "Started", value: (s) => when(s.started_at, tz) },
      { label: "Duration", num: true, value: (s) => `${Math.round(s.duration_seconds)} s` },
      { label: "Messages", num: true, value: (s) => count(s.messages) },
      { label: "LLM calls", num: true, value: (s) => count(s.llm_calls) },
      { label: "Cost", num: true, value: (s) => money(s.cost_usd), raw: (s) => s.cost_usd },
      { label: "Channel", value: (s) => s.channel || "–" },
      { label: "Ended", value: (s) => s.end_reason || "open" },
    ], data.sessions, { testid: "sessions", onRow: (s) => open(s.session_id), empty: "No sessions in the last 30 days" });
  }

  async function open(id) {
    detail.replaceChildren(el(`<div class="state" data-state="loading">Loading ${escape(id)}…</div>`));
    try {
      const s = await get(tenantPath(`/sessions/${encodeURIComponent(id)}`));
      detail.replaceChildren();
      const card = section(detail, `Session ${s.session.session_id}`);
      card.append(el(`<p>${count(s.session.messages)} messages · ${count(s.session.llm_calls)} LLM calls · ${money(s.session.cost_usd)} · ${Math.round(s.session.duration_seconds)} s · ${escape(s.session.end_user_id || "anonymous")}</p>`));
      card.append(el(`<h3>Messages</h3>`));
      table(card, [
        { label: "At", value: (e) => when(e.ts, tz) },
        { label: "Role", value: (e) => e.role },
        { label: "Characters", num: true, value: (e) => count(e.content_chars) },
      ], s.messages, { empty: "No messages" });
      card.append(el(`<h3>LLM calls</h3>`));
      table(card, [
        { label: "At", value: (e) => when(e.ts, tz) },
        { label: "Model", value: (e) => `${e.provider}/${e.model}` },
        { label: "Tokens in / out", num: true, value: (e) => `${count(e.input_tokens)} / ${count(e.output_tokens)}` },
        { label: "Latency", num: true, value: (e) => ms(e.latency_ms) },
        { label: "Cost", num: true, value: (e) => money(e.cost_usd), raw: (e) => e.cost_usd },
        { label: "Status", value: (e) => e.status },
      ], s.llm_calls, { testid: "session-calls", empty: "No LLM calls" });
    } catch (error) {
      detail.replaceChildren(el(`<div class="state error">${escape(error.message)}</div>`));
    }
  }

  bar.addEventListener("submit", (event) => { event.preventDefault(); load(bar.q.value.trim()); });
  await load("");
}
