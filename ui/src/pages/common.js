// Building blocks of the pages: cards, KPI tiles, tables, chart slots, empty states.

import { change, escape } from "../format.js";

export function el(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

export function section(root, title, extraClass = "") {
  const card = el(`<section class="card ${extraClass}"><h2>${escape(title)}</h2></section>`);
  root.append(card);
  return card;
}

export function grid(root, wide = false) {
  const g = el(`<div class="grid${wide ? " wide" : ""}"></div>`);
  root.append(g);
  return g;
}

// A KPI tile: data-value holds the API's own value, so tests (and people) can compare exactly.
export function kpi(parent, { id, label, value, text, delta, versus }) {
  const d = delta === undefined ? null : change(delta, versus);
  parent.append(el(`<div class="card kpi" data-testid="kpi-${id}" data-value="${escape(value)}">
    <div class="label">${escape(label)}</div><div class="value">${escape(text)}</div>
    ${d ? `<div class="delta ${d.cls}" data-testid="kpi-${id}-delta">${escape(d.text)}</div>` : ""}</div>`));
}

export function chartSlot(root, drawers, title, draw, empty) {
  const card = section(root, title);
  if (empty) {
    card.append(el(`<div class="state" data-state="empty">No data in this period</div>`));
    return card;
  }
  const holder = el(`<div class="chart"><canvas></canvas></div>`);
  card.append(holder);
  drawers.push(() => draw(holder.querySelector("canvas")));
  return card;
}

export function table(parent, columns, rows, { testid, onRow, empty = "Nothing in this period" } = {}) {
  if (!rows.length) {
    parent.append(el(`<div class="state" data-state="empty" ${testid ? `data-testid="${testid}-empty"` : ""}>${escape(empty)}</div>`));
    return null;
  }
  const head = columns.map((c) => `<th class="${c.num ? "num" : ""}">${escape(c.label)}</th>`).join("");
  const wrap = el(`<div class="table-wrap"><table ${testid ? `data-testid="${testid}"` : ""}><thead><tr>${head}</tr></thead><tbody></tbody></table></div>`);
  const body = wrap.querySelector("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    if (onRow) { tr.className = "clickable"; tr.addEventListener("click", () => onRow(row)); }
    for (const c of columns) {
      const td = document.createElement("td");
      if (c.num) td.className = "num";
      const value = c.value(row);
      if (value instanceof Node) td.append(value); else td.textContent = value;
      if (c.raw) td.dataset.value = c.raw(row);
      tr.append(td);
    }
    body.append(tr);
  }
  parent.append(wrap);
  return wrap;
}

export function newRoot(root) {
  root.drawers = [];
  return root.drawers;
}
