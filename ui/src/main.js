// The dashboard shell: sign-in (a key entered once, kept in the tab; #key=... works too), the page
// router, the date range, auto-refresh every 30 s and the live cost ticker (server-sent events).

import { ApiError, get, session, stream, tenantPath } from "./api.js";
import { destroyAll } from "./charts.js";
import { money } from "./format.js";
import * as overview from "./pages/overview.js";
import * as costs from "./pages/costs.js";
import * as sessions from "./pages/sessions.js";
import * as products from "./pages/products.js";
import * as funnel from "./pages/funnel.js";
import * as alerts from "./pages/alerts.js";
import * as settings from "./pages/settings.js";
import * as admin from "./pages/admin.js";

const PAGES = { overview, costs, sessions, products, funnel, alerts, settings, admin };
const REFRESH_MS = 30_000;
const $ = (id) => document.getElementById(id);

const saved = JSON.parse(sessionStorage.getItem("tally.range") || "null");
const state = {
  info: null,
  range: saved?.range || { period: "7d" },
  rangeName: saved?.name || "7d",
  timer: null,
  stopTicker: null,
  renderId: 0,
};

function setRange(range, name) {
  state.range = range;
  state.rangeName = name;
  sessionStorage.setItem("tally.range", JSON.stringify({ range, name }));  // kept across reloads
}

export function rangeParams() {
  return { ...state.range };
}

export function showState(root, kind, message) {
  root.innerHTML = "";
  const div = document.createElement("div");
  div.className = `state ${kind}`;
  div.dataset.state = kind;
  div.textContent = message;
  root.append(div);
}

function readFragment() {
  // #key=...&tenant=... signs in; a fragment never reaches the server or its logs
  const raw = location.hash.slice(1);
  const hash = new URLSearchParams(raw.includes("key=") ? raw.slice(raw.indexOf("key=")) : "");
  const key = hash.get("key");
  if (key) {
    const tenant = hash.get("tenant") || new URLSearchParams(location.search).get("tenant_id") || session.tenant;
    if (tenant) session.signIn(tenant, key);
    history.replaceState(null, "", `${location.pathname}${location.search}#/overview`);
  }
}

async function signedIn() {
  if (!session.key || !session.tenant) return false;
  try {
    state.info = await get(tenantPath("/info"));
    return true;
  } catch (error) {
    $("signin-error").textContent = error instanceof ApiError ? error.message : String(error);
    if (error instanceof ApiError && [401, 403, 404].includes(error.status)) session.signOut();
    return false;
  }
}

function showSignIn() {
  $("shell").hidden = true;
  $("signin").hidden = false;
  const fromQuery = new URLSearchParams(location.search).get("tenant_id");
  if (fromQuery) $("signin-tenant").value = fromQuery;
}

async function start() {
  readFragment();
  if (!(await signedIn())) return showSignIn();
  $("signin").hidden = true;
  $("shell").hidden = false;
  $("range").value = state.range.period || "custom";
  $("custom-range").hidden = !!state.range.period;
  if (!state.range.period) { $("range-from").value = state.range.from; $("range-to").value = state.range.to; }
  $("tenant-name").textContent = `${state.info.name} (${state.info.tenant_id}, ${state.info.timezone})`;
  startTicker();
  await route();
}

function startTicker() {
  if (state.stopTicker) state.stopTicker();
  const ticker = $("ticker");
  state.stopTicker = stream(
    tenantPath("/live?interval=1"),
    (tick) => {
      ticker.dataset.costToday = tick.cost_today_usd;
      ticker.dataset.requestsMinute = tick.requests;
      ticker.dataset.asOf = tick.as_of;
      ticker.textContent = `● ${money(tick.cost_usd)} this minute · ${tick.requests} calls · ${money(tick.cost_today_usd)} today · ${tick.active_sessions} active`;
    },
    () => { ticker.textContent = "live feed disconnected"; setTimeout(startTicker, 5000); },
  );
}

async function route() {
  const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || "overview";
  const page = PAGES[name] || overview;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === `#/${name}`);
  $("nav").classList.remove("open");
  await render(page);
}

async function render(page, quiet = false) {
  const id = ++state.renderId;
  const root = $("page");
  clearTimeout(state.timer);
  if (!quiet) showState(root, "loading", "Loading…");
  const fresh = document.createElement("div");
  try {
    await page.render(fresh, { info: state.info, range: rangeParams(), rangeName: state.rangeName, refresh: () => render(page, true) });
    if (id !== state.renderId) return;  // a newer render started meanwhile
    destroyAll();
    root.replaceChildren(fresh);
    for (const draw of fresh.drawers || []) draw();  // charts need their canvas in the page
  } catch (error) {
    if (id !== state.renderId) return;
    showState(root, "error", `Could not load this page: ${error.message}`);
  }
  if (id === state.renderId) state.timer = setTimeout(() => render(page, true), REFRESH_MS);
}

function wire() {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    session.signIn($("signin-tenant").value.trim(), $("signin-key").value.trim());
    $("signin-key").value = "";
    await start();
  });
  $("signout").addEventListener("click", () => {
    session.signOut();
    if (state.stopTicker) state.stopTicker();
    location.hash = "";
    showSignIn();
  });
  $("menu").addEventListener("click", () => $("nav").classList.toggle("open"));
  $("range").addEventListener("change", () => {
    const value = $("range").value;
    $("custom-range").hidden = value !== "custom";
    if (value !== "custom") {
      setRange({ period: value }, value);
      route();
    }
  });
  $("range-apply").addEventListener("click", () => {
    const from = $("range-from").value, to = $("range-to").value;
    if (!from || !to) return;
    setRange({ from, to }, `${from} – ${to}`);
    route();
  });
  window.addEventListener("hashchange", () => { if (!$("shell").hidden) route(); });
}

wire();
window.addEventListener("load", start);
