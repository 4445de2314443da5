// The compare view (ttvis_widget.compare): one ordinary view of each of two TimeTravelWidgets side by side,
// the second one's time bar hidden so that ONE slider drives both, linked in the browser: time every drawn
// frame (mapped by epoch number when the two runs recorded different epochs) and hover. Selection is linked
// in the kernel (compare.py). The legend line says how the samples are matched and whether the second view
// is aligned to the first.
import { h } from "./dom.js";
import { TimeTravelView } from "./view.js";

const CSS = `
.ttvis-compare { display: block; width: 100%; box-sizing: border-box;
  font: 12px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #222; }
.ttvis-compare * { box-sizing: border-box; }
.ttvis-compare-note { color: #444; padding: 2px 2px 6px; }
.ttvis-compare-warning { color: #b3261e; font-weight: 600; padding: 0 2px 6px; }
.ttvis-compare-views { display: flex; gap: 6px; align-items: flex-start; width: 100%; }
.ttvis-compare-cell { flex: 1 1 0; min-width: 0; }
`;

/** Fractional epoch index on `to`'s timeline for time t on `from`'s (same epoch numbers: the same t). */
export function mapTime(fromEpochs, toEpochs, t) {
  const a = fromEpochs, b = toEpochs;
  if (!a.length || !b.length) return 0;
  if (a.length === b.length && a.every((e, i) => e === b[i])) return t;
  const k0 = Math.max(0, Math.min(a.length - 1, Math.floor(t))), k1 = Math.min(k0 + 1, a.length - 1);
  const e = a[k0] + (a[k1] - a[k0]) * (t - k0);
  if (e <= b[0]) return 0;
  if (e >= b[b.length - 1]) return b.length - 1;
  let j = 1;
  while (b[j] < e) j++;
  return j - 1 + (e - b[j - 1]) / (b[j] - b[j - 1]);
}

/** Link two views: each one's drawn time and hover are copied to the other (never echoed back). */
function linkViews(va, vb, links) {
  const echo = new Map();  // view -> the time we last set on it
  const follow = (src, dst) => {
    const t = src.timeline.t;
    const mine = echo.get(src);
    if (mine !== undefined && Math.abs(mine - t) < 1e-9) return;  // src only shows what we set on it
    const to = mapTime(src.info.epochs || [], dst.info.epochs || [], t);
    if (Math.abs(dst.timeline.t - to) < 1e-9) return;
    echo.set(dst, to);
    const moving = src.timeline.scrubbing || src.timeline.playing;
    if (dst.timeline.playing) dst.setPlaying(false, true);
    dst.timeline.t = to;
    dst.afterTimeChange();
    dst.sync.pushTime(!moving);
  };
  const hover = (src, dst) => {
    if (links.includes("hover") && dst.hovered !== src.hovered) dst.setHovered(src.hovered, true);
  };
  const linker = (src, dst) => () => ({
    el: h("span", { style: { display: "none" } }),
    update(change) {
      if (change === "time" && links.includes("time")) follow(src, dst);
      else if (change === "hover") hover(src, dst);
    },
  });
  va.panels.add(linker(va, vb));
  vb.panels.add(linker(vb, va));
}

/** anywidget render for a CompareWidget model: resolves the two child models, then builds both views. */
export function renderCompare({ model, el }) {
  const root = h("div", { class: "ttvis-compare" }, h("style", {}, CSS));
  const warning = model.get("warning");
  if (warning) root.append(h("div", { class: "ttvis-compare-warning" }, `⚠ ${warning}`));
  root.append(h("div", { class: "ttvis-compare-note" }, model.get("note") || ""));
  const cells = [h("div", { class: "ttvis-compare-cell" }), h("div", { class: "ttvis-compare-cell" })];
  root.append(h("div", { class: "ttvis-compare-views" }, ...cells));
  el.append(root);
  let views = [], gone = false;
  const ids = (model.get("views") || []).map((s) => String(s).replace(/^IPY_MODEL_/, ""));
  Promise.all(ids.map((id) => model.widget_manager.get_model(id))).then((models) => {
    if (gone) return;
    views = models.map((m, i) => new TimeTravelView(m, cells[i]));
    views[1].root.classList.add("ttvis-follower");
    linkViews(views[0], views[1], model.get("link") || []);
  }).catch((e) => {
    root.append(h("div", { class: "ttvis-compare-warning" }, `could not show the two views: ${e.message}`));
  });
  return () => {
    gone = true;
    for (const v of views) v.destroy();
    root.remove();
  };
}
