// Sample panel (below the plot): the inspected sample (hovered, else the clicked one): its image or text,
// label and split, its top-3 predictions at the shown epoch with confidence bars (kernel: sample_detail),
// its prediction history across all epochs (a strip coloured by predicted class), and the actions
// "similar" and "why" (influence), whose answers fill the selection and the result list under it.
import { h } from "../dom.js";
import { countFlips, historyCells, renderStrip } from "./history.js";
import { resultsView } from "./results.js";

const WHY = "select the training samples that most helped / opposed this sample's prediction (TracIn, last layer)";

export function samplePanel(ctx, dbg) {
  const { state, actions, samples } = ctx;
  const el = h("div", { class: "ttvis-sample ttvis-panel" });
  const empty = h("div", { class: "ttvis-sample-empty" }, "Hover a point to inspect it; click it to keep it here.");
  const media = h("div", { class: "ttvis-sample-media" });
  const title = h("div", { class: "ttvis-sample-title" });
  const top = h("div", { class: "ttvis-top" });
  const strip = h("div", { class: "ttvis-history", role: "img" });
  const histLabel = h("div", { class: "ttvis-history-label" });
  const similar = h("button", { class: "ttvis-similar", onclick: () => dbg.similar(dbg.subject),
    title: "select the 10 samples most similar to this one in the model's space at this epoch (cosine)" }, "similar");
  const why = h("button", { class: "ttvis-why", onclick: () => dbg.why(dbg.subject), title: WHY }, "why?");
  const unpin = h("button", { class: "ttvis-unpin", title: "stop inspecting this sample", onclick: () => dbg.pin(-1) }, "×");
  const info = h("div", { class: "ttvis-sample-info" }, title, top, histLabel, strip,
    h("div", { class: "ttvis-sample-actions" }, similar, why));
  const card = h("div", { class: "ttvis-sample-card" }, media, info, unpin);
  const results = resultsView(ctx, dbg);
  el.append(empty, card, results.el);
  let shown = -1;

  const names = () => state.info.classes || [];
  const colors = () => state.info.colors || [];
  const className = (c) => (c === null || c === undefined ? "–" : names()[c] ?? String(c));
  const swatch = (c) => h("span", { class: "ttvis-swatch", style: { background: colors()[c] || "#999" } });

  function setSample(i) {
    shown = i;
    media.replaceChildren();
    const kind = state.info.media;
    if (i < 0 || !kind) return;
    const pic = kind === "image" ? h("img", { alt: `sample ${i}` }) : h("div", { class: "ttvis-sample-text" }, "…");
    media.append(pic);
    if (samples) {
      samples.request(i, (v) => {
        if (shown !== i) return;
        if (kind === "image" && v.url) pic.src = v.url;
        else if (kind !== "image") pic.textContent = v.text ?? v.error ?? "";
      });
    }
  }

  function renderTop(i) {
    const s = state.store;
    const d = dbg.detailNow(i);
    if (!s.hasPred) top.replaceChildren(h("div", { class: "ttvis-top-note" }, "no predictions recorded"));
    else if (!d || d.status === "pending") top.replaceChildren(h("div", { class: "ttvis-top-note" }, "top predictions: computing…"));
    else if (d.status === "error") top.replaceChildren(h("div", { class: "ttvis-top-note" }, d.error));
    else {
      top.replaceChildren(...d.top.map(([c, p]) => h("div", { class: "ttvis-top-row", title: `${className(c)}: ${(p * 100).toFixed(1)}%` },
        swatch(c), h("span", { class: "ttvis-top-name" }, className(c)),
        h("span", { class: "ttvis-bar" }, h("span", { class: "ttvis-bar-fill", style: { width: `${(p * 100).toFixed(1)}%`, background: colors()[c] || "#888" } })),
        h("span", { class: "ttvis-top-p" }, `${Math.round(p * 100)}%`))));
    }
  }

  function render() {
    const i = dbg.subject;
    const s = state.store;
    const ok = i >= 0 && s.meta && i < s.n;
    empty.style.display = ok ? "none" : "";
    card.style.display = ok ? "" : "none";
    if (!ok) {
      if (shown !== -1) setSample(-1);
      return;
    }
    if (i !== shown) setSample(i);
    const lab = s.labels[i];
    const pinned = dbg.pinned === i && state.hovered !== i;
    // replaceChildren writes a null as the text "null": only the parts that are there
    title.replaceChildren(...[h("b", {}, `#${i}`), ` · ${s.split[i] === 1 ? "test" : "train"}`,
      lab !== s.noClass ? h("span", { class: "ttvis-sample-label" }, " · label ", swatch(lab), className(lab)) : null,
      ` · epoch ${dbg.epoch}`, pinned ? h("span", { class: "ttvis-pinned" }, " · kept") : null].filter((c) => c !== null));
    unpin.style.visibility = dbg.pinned === i ? "visible" : "hidden";
    renderTop(i);
    const cells = historyCells(s, i, dbg.historyOf(i));
    renderStrip(strip, cells, state.epochIndex, names(), colors(), (k) => actions.setTime(k));
    const flips = countFlips(cells);
    histLabel.textContent = s.hasPred ? `prediction history (${cells.length} epochs, ${flips} change${flips === 1 ? "" : "s"})` : "";
    strip.setAttribute("aria-label", `predicted class at each of ${cells.length} epochs`);
    similar.disabled = false;
    why.disabled = !state.info.has_labels;
    why.title = state.info.has_labels ? WHY : "influence needs labels; these dynamics have none";
  }

  render();
  return {
    el,
    area: "bottom",
    update(change) {
      if (change === "analysis") results.render();
      if (change !== "time" && change !== "flags") render();
    },
  };
}
