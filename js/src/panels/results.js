// The result list of the sample panel's actions ("similar", "why"): the samples the kernel found (it also
// put them in the selection), each with its image or text fetched lazily through the view's sample cache,
// its score, and a click that inspects it.
import { h } from "../dom.js";

/** Title and groups [{name, indices, scores}] of a `similar` / `influence` answer. Pure. */
export function resultGroups(r, names = []) {
  if (r.kind === "similar") {
    const what = r.metric === "euclidean" ? "nearest (euclidean)" : "most similar (cosine)";
    return { title: `${(r.indices || []).length} ${what} to #${r.index} at epoch ${r.epoch}`,
      groups: [{ name: "", indices: r.indices || [], scores: r.scores || [] }] };
  }
  const cls = names[r.target] ?? r.target;
  const eps = r.epochs || [];
  return {
    title: `why #${r.index} is predicted ${cls}: TracIn (last layer) over epochs ${eps[0]}…${eps[eps.length - 1]}`,
    groups: [{ name: "helped", indices: r.proponents?.indices || [], scores: r.proponents?.scores || [] },
      { name: "opposed", indices: r.opponents?.indices || [], scores: r.opponents?.scores || [] }],
  };
}

const fmtScore = (s) => (Math.abs(s) >= 100 || (Math.abs(s) < 0.01 && s !== 0) ? s.toExponential(1) : s.toFixed(2));

export function resultsView(ctx, dbg) {
  const { state, actions, samples } = ctx;
  const el = h("div", { class: "ttvis-results" });
  let shownKey = null;

  function thumb(i, score) {
    const media = state.info.media;
    const pic = media === "image" ? h("img", { class: "ttvis-thumb", alt: `sample ${i}` })
      : media === "text" ? h("div", { class: "ttvis-thumb ttvis-thumb-text" }, "…") : null;
    if (pic && samples) {
      samples.request(i, (v) => {
        if (pic.tagName === "IMG") { if (v.url) pic.src = v.url; } else pic.textContent = (v.text ?? v.error ?? "").slice(0, 80);
      });
    }
    const item = h("div", { class: "ttvis-result", title: `#${i}: score ${score}; click to inspect`,
      onclick: () => { dbg.pin(i); actions.focus(i); } },
    pic, h("span", { class: "ttvis-result-index" }, `#${i}`), h("span", { class: "ttvis-result-score" }, fmtScore(score)));
    item.dataset.index = String(i);
    return item;
  }

  function render() {
    const r = dbg.results;
    const key = r ? `${r.kind}:${r.index}:${r.status}:${r.epoch}` : "";
    if (key === shownKey) return;
    shownKey = key;
    el.replaceChildren();
    el.style.display = r ? "" : "none";
    if (!r) return;
    const close = h("button", { class: "ttvis-results-close", title: "close the list (the selection stays)",
      onclick: () => { dbg.results = null; dbg.notify(); } }, "×");
    if (r.status !== "ready") {
      const what = r.kind === "similar" ? `similar to #${r.index}` : `why #${r.index}`;
      el.append(h("div", { class: "ttvis-results-title" }, close,
        r.status === "error" ? `${what}: ${r.error}` : `${what}: computing…`));
      el.classList.toggle("ttvis-results-error", r.status === "error");
      return;
    }
    el.classList.remove("ttvis-results-error");
    const { title, groups } = resultGroups(r, state.info.classes || []);
    el.append(h("div", { class: "ttvis-results-title", title: (r.notes || []).join("\n") }, close, title));
    for (const g of groups) {
      const list = h("div", { class: "ttvis-results-list" }, g.indices.map((i, j) => thumb(i, g.scores[j])));
      el.append(g.name ? h("div", { class: `ttvis-results-group ttvis-results-${g.name}` },
        h("div", { class: "ttvis-results-group-name" }, `${g.name} (${g.indices.length})`), list) : list);
    }
  }

  render();
  return { el, render };
}
