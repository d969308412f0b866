// Settings: the store configuration (admin keys can save it).

import { send, tenantPath } from "../api.js";
import { escape } from "../format.js";
import { el, newRoot } from "./common.js";

export async function render(root, ctx) {
  newRoot(root);
  const s = ctx.info.settings;
  const form = el(`<form class="card" data-testid="settings-form">
    <h1>Store settings</h1>
    <label>Store description <textarea name="description" rows="3" maxlength="4000">${escape(s.description)}</textarea></label>
    <label>Brand voice <textarea name="brand_voice" rows="2" maxlength="2000">${escape(s.brand_voice)}</textarea></label>
    <label>Store URL <input name="store_url" type="url" value="${escape(s.store_url || "")}"></label>
    <label>Logo URL <input name="logo_url" type="url" value="${escape(s.logo_url || "")}"></label>
    <div class="row">
      <label>Temperature <input name="temperature" type="number" min="0" max="2" step="0.1" value="${s.ai.temperature}"></label>
      <label>Max products shown <input name="max_products_shown" type="number" min="1" max="50" value="${s.ai.max_products_shown}"></label>
    </div>
    <div class="row"><button type="submit">Save</button><span data-testid="settings-status"></span></div>
  </form>`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements, status = form.querySelector("[data-testid=settings-status]");
    try {
      const saved = await send("PUT", tenantPath("/settings"), {
        description: f.description.value, brand_voice: f.brand_voice.value,
        store_url: f.store_url.value || null, logo_url: f.logo_url.value || null,
        ai: { temperature: Number(f.temperature.value), max_products_shown: Number(f.max_products_shown.value) },
      });
      ctx.info.settings = saved.settings;
      status.className = "good";
      status.textContent = "Saved";
    } catch (error) {
      status.className = "error";
      status.textContent = error.message;
    }
  });
  root.append(form);
}
