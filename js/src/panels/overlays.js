// Overlays panel: switches for the debugger's drawings (neighbour lines, trails, visualization-error marks)
// with the line legend (kept / gained / lost, in the styles the lines are drawn with) and what each shows now.
import { h } from "../dom.js";
import { redrawnPanel } from "./index.js";
import { LINE_ORDER, LINE_STYLES } from "../overlays/neighbors.js";
import { TRAIL_CAP } from "../overlays/trails.js";

const fmt = (n) => Number(n).toLocaleString();

export function overlaysPanel(ctx, dbg) {
  const { state } = ctx;
  const toggle = (key, cls, text, title) => {
    const box = h("input", { type: "checkbox", class: cls, onchange: () => dbg.set(key, box.checked) });
    return { box, label: h("label", { class: "ttvis-opt ttvis-overlay-opt", title }, box, text) };
  };
  const lines = toggle("lines", "ttvis-toggle-lines", "neighbours",
    "lines from the inspected sample (hovered, or clicked) to its 15 nearest neighbours in the model's space and on screen");
  const trails = toggle("trails", "ttvis-toggle-trails", "trails",
    `the selected samples' paths across all epochs (at most ${fmt(TRAIL_CAP)} samples)`);
  const vis = toggle("visErr", "ttvis-toggle-viserr", "vis. errors",
    "mark samples whose round trip through the visualization (inverse of the 2-D position, then the classifier head) changes the prediction at this epoch");
  const legend = h("div", { class: "ttvis-line-legend" }, LINE_ORDER.slice().reverse().map((kind) => {
    const st = LINE_STYLES[kind];
    return h("div", { class: "ttvis-line-item", title: st.title },
      h("span", { class: `ttvis-line-key ttvis-line-${kind}`, style: { borderTopColor: st.color } }), st.label);
  }));
  const linesInfo = h("div", { class: "ttvis-overlay-info ttvis-lines-info" });
  const trailsInfo = h("div", { class: "ttvis-overlay-info ttvis-trails-info" });
  const visInfo = h("div", { class: "ttvis-overlay-info ttvis-viserr-info" });
  const visKey = h("span", { class: "ttvis-viserr-key" });
  vis.label.append(visKey);
  const el = h("div", { class: "ttvis-overlays ttvis-panel" }, h("div", { class: "ttvis-panel-title" }, "overlays"),
    lines.label, legend, linesInfo, trails.label, trailsInfo, vis.label, visInfo);

  function render() {
    lines.box.checked = dbg.lines;
    trails.box.checked = dbg.trails;
    vis.box.checked = dbg.visErr;
    legend.style.display = dbg.lines ? "" : "none";
    const nb = dbg.neighborsNow();
    const i = dbg.subject;
    linesInfo.title = nb ? `sample ${nb.index} at epoch ${nb.epoch}: ${nb.kept.length} of its ${nb.k} nearest neighbours in the model's space are also among its ${nb.k} nearest on screen` : "";
    linesInfo.textContent = !dbg.lines ? "" : nb
      ? `#${nb.index}: ${nb.kept.length}/${nb.k} kept`
      : i >= 0 ? `#${i}: computing…` : "hover or click a point";
    const nSel = state.selection.length;
    const shown = Math.min(nSel, TRAIL_CAP);
    trailsInfo.textContent = !dbg.trails || !nSel ? "" : nSel > TRAIL_CAP
      ? `${fmt(shown)} of ${fmt(nSel)} selected (cap)` : `${fmt(nSel)} selected`;
    const now = dbg.visErrors.get(dbg.epoch);
    const shownMarks = dbg.visErrorsNow();
    visInfo.textContent = !dbg.visErr ? "" : now && now.status === "error" ? `unavailable: ${now.error}`
      : now && now.status === "pending" ? "computing…"
        : shownMarks ? `${fmt(shownMarks.count)} at epoch ${shownMarks.epoch}` : "";
    visInfo.title = visInfo.textContent;
  }

  return redrawnPanel(el, render, ["analysis", "selection", "hover", "epoch"]);
}
