// Numbers with their units: USD, tokens, percentages, durations, dates.

const usd2 = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const usd4 = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 });
const usd6 = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 6 });
const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export function money(value) {
  const n = Number(value ?? 0);
  if (n === 0) return usd2.format(0);
  const abs = Math.abs(n);
  return (abs >= 100 ? usd2 : abs >= 0.01 ? usd4 : usd6).format(n);
}
export const count = (value) => integer.format(Number(value ?? 0));
export const tokens = (value) => `${Number(value) >= 100_000 ? compact.format(Number(value)) : integer.format(Number(value ?? 0))} tokens`;
export const pct = (value, digits = 1) => (value === null || value === undefined ? "–" : `${Number(value).toFixed(digits)} %`);
export const ms = (value) => (value === null || value === undefined ? "–" : `${integer.format(Number(value))} ms`);
export function change(value, versus = "previous period") {
  if (value === null || value === undefined) return { text: `nothing in the ${versus} to compare`, cls: "muted" };
  const sign = value > 0 ? "+" : "";
  return { text: `${sign}${Number(value).toFixed(1)} % vs ${versus}`, cls: value > 0 ? "good" : value < 0 ? "bad" : "muted" };
}
export function when(iso, tz) {
  return new Date(iso).toLocaleString("en-GB", { timeZone: tz || undefined, dateStyle: "medium", timeStyle: "short" });
}
export function day(iso, tz, granularity) {
  const options = granularity === "hour" || granularity === "minute"
    ? { hour: "2-digit", minute: "2-digit", day: "2-digit", month: "short" }
    : granularity === "month" ? { month: "short", year: "numeric" } : { day: "2-digit", month: "short" };
  return new Date(iso).toLocaleString("en-GB", { timeZone: tz || undefined, ...options });
}
export function escape(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
