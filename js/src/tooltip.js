// Hover tooltip: sample image (an <img>, fetched lazily from the kernel and cached per model) or text,
// index, split, label, prediction and confidence at the current epoch.
import { h } from "./dom.js";

export class Tooltip {
  constructor(stage, cache) {
    this.cache = cache;
    this.el = h("div", { class: "ttvis-tooltip", role: "tooltip" });
    stage.append(this.el);
    this.index = -1;
  }

  hide() {
    this.el.style.display = "none";
    this.index = -1;
  }

  /** info: {index, split, label, pred, conf, wrong, media}; (lx, ly) canvas-local CSS px. */
  show(info, lx, ly, w, h_) {
    const el = this.el;
    if (this.index !== info.index) {
      this.index = info.index;
      el.replaceChildren();
      if (info.media === "image") {
        this.img = h("img", { alt: `sample ${info.index}` });
        el.append(this.img);
      } else if (info.media === "text") {
        this.text = h("div", { class: "ttvis-tip-text" }, "…");
        el.append(this.text);
      } else {
        this.img = this.text = null;
      }
      this.rows = h("div", { class: "ttvis-tip-rows" });
      el.append(this.rows);
      if (info.media) {
        const i = info.index;
        this.cache.request(i, (v) => {
          if (this.index !== i) return;
          if (this.img && v.url) this.img.src = v.url;
          if (this.text) this.text.textContent = v.text ?? v.error ?? "";
        });
      }
    }
    this.rows.replaceChildren(...[
      h("div", { class: "ttvis-tip-row" }, h("b", {}, `#${info.index}`), ` · ${info.split}`),
      info.label !== null ? h("div", { class: "ttvis-tip-row" }, `label: ${info.label}`) : null,
      info.pred !== null
        ? h("div", { class: "ttvis-tip-row" + (info.wrong ? " ttvis-wrong" : "") },
          `prediction: ${info.pred}` + (info.conf !== null ? ` (${(info.conf * 100).toFixed(0)}%)` : ""))
        : null,
      info.flipped ? h("div", { class: "ttvis-tip-row" }, `flipped from ${info.prev}`) : null,
    ].filter(Boolean));
    el.style.display = "block";
    const tw = el.offsetWidth, th = el.offsetHeight;
    let x = lx + 14, y = ly + 14;
    if (x + tw > w) x = Math.max(0, lx - tw - 14);
    if (y + th > h_) y = Math.max(0, ly - th - 14);
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
  }
}
