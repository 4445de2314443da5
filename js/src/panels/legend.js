// Legend panel: class names in the palette's colours with per-class counts at the shown epoch; clicking an
// entry toggles the filter on the attribute used for colour (label or prediction), alt/double-click shows
// that class only, "show all" clears the filter.
import { h } from "../dom.js";

export function legendPanel(ctx) {
  const { state, actions } = ctx;
  const el = h("div", { class: "ttvis-legend" });
  let title = null;
  let items = [];

  const filterKey = () => (state.colorBy === "prediction" ? "predictions" : "labels");
  const nClasses = () => (state.info.classes || []).length;
  const only = (c) => actions.setFilter(filterKey(), [c]);
  const toggle = (c) => {
    const key = filterKey(), n = nClasses();
    const allowed = new Set(state.filters[key] ?? [...Array(n).keys()]);
    if (allowed.has(c)) allowed.delete(c); else allowed.add(c);
    actions.setFilter(key, allowed.size === n ? null : [...allowed].sort((a, b) => a - b));
  };

  function setClasses() {
    const names = state.info.classes || [], colors = state.info.colors || [];
    el.replaceChildren();
    title = h("div", { class: "ttvis-legend-title" }, "label");
    el.append(title);
    items = names.map((name, c) => {
      const count = h("span", { class: "ttvis-legend-count" });
      const item = h("div", {
        class: "ttvis-legend-item", title: `class ${c}: click to hide/show, double-click to show only this class`,
        onclick: (ev) => (ev.altKey ? only(c) : toggle(c)),
        ondblclick: () => only(c),
      },
      h("span", { class: "ttvis-swatch", style: { background: colors[c] } }),
      h("span", { class: "ttvis-legend-name" }, name), count);
      item.dataset.cls = String(c);
      el.append(item);
      return { item, count };
    });
    el.append(h("button", { class: "ttvis-legend-all", onclick: () => actions.setFilter(filterKey(), null) }, "show all"));
  }

  function showCounts() {
    const byPred = state.colorBy === "prediction";
    const allowed = state.filters[byPred ? "predictions" : "labels"];
    const on = allowed ? new Set(allowed) : null;
    const counts = state.counts;
    if (title) title.textContent = byPred ? "colour: prediction" : "colour: label";
    items.forEach(({ item, count }, c) => {
      item.classList.toggle("ttvis-off", !!on && !on.has(c));
      if (counts) count.textContent = String(counts[c] ?? 0);
    });
  }

  setClasses();
  return {
    el,
    area: "side",
    update(change) {
      if (change === "info") {
        setClasses();
        showCounts();
      } else if (change === "flags") showCounts();
    },
  };
}
