// Legend: class names with the palette colours from Python; clicking an entry toggles the filter on the
// attribute currently used for colour (true label or prediction), alt/double-click shows that class only.
import { h } from "./dom.js";

export class Legend {
  constructor(parent, { onToggle, onOnly, onAll }) {
    this.el = h("div", { class: "ttvis-legend" });
    parent.append(this.el);
    this.onToggle = onToggle;
    this.onOnly = onOnly;
    this.onAll = onAll;
    this.items = [];
  }

  setClasses(names, colors) {
    this.el.replaceChildren();
    this.title = h("div", { class: "ttvis-legend-title" }, "label");
    this.el.append(this.title);
    this.items = names.map((name, c) => {
      const count = h("span", { class: "ttvis-legend-count" });
      const item = h("div", {
        class: "ttvis-legend-item", title: `class ${c}: click to hide/show, double-click to show only this class`,
        onclick: (ev) => (ev.altKey ? this.onOnly(c) : this.onToggle(c)),
        ondblclick: () => this.onOnly(c),
      },
      h("span", { class: "ttvis-swatch", style: { background: colors[c] } }),
      h("span", { class: "ttvis-legend-name" }, name), count);
      item.dataset.cls = String(c);
      this.el.append(item);
      return { item, count };
    });
    this.el.append(h("button", { class: "ttvis-legend-all", onclick: () => this.onAll() }, "show all"));
  }

  /** allowed: Set of visible classes or null (all); counts: per-class counts at the current epoch. */
  update(attr, allowed, counts) {
    if (this.title) this.title.textContent = attr === "prediction" ? "colour: prediction" : "colour: label";
    this.items.forEach(({ item, count }, c) => {
      item.classList.toggle("ttvis-off", !!allowed && !allowed.has(c));
      if (counts) count.textContent = String(counts[c] ?? 0);
    });
  }
}
