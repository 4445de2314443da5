// Prediction history of one sample: its predicted class and confidence at every epoch, read from the class
// and confidence arrays the view already holds for all epochs (transport.js DataStore), and the strip that
// shows them in the sample panel (one cell per epoch, coloured by the predicted class).
import { h } from "../dom.js";

/**
 * [{k, epoch, cls (null: unknown / not loaded), conf (0..1 or null), wrong}] for sample i. Epochs the view does
 * not hold (a windowed view) come from `kernel`, the kernel's [[class, confidence] per epoch index], if given. Pure.
 */
export function historyCells(store, i, kernel = null) {
  if (!store || !store.meta || !store.hasPred || i < 0 || i >= store.n) return [];
  const lab = store.labels[i];
  const cell = (k, epoch, cls, conf) => ({ k, epoch, cls, conf, wrong: cls !== null && lab !== store.noClass && cls !== lab });
  return (store.epochs || []).map((epoch, k) => {
    const pred = store.epochReady(k) ? store.pred[k] : null;
    if (pred) return cell(k, epoch, pred[i] === store.noClass ? null : pred[i], store.conf[k] ? store.conf[k][i] / 255 : null);
    const h = kernel && kernel[k];
    if (h && h[0] !== null && h[0] !== undefined) return cell(k, epoch, h[0], h[1] ?? null);
    return cell(k, epoch, null, null);
  });
}

/** Number of times the predicted class changed along the history. Pure. */
export function countFlips(cells) {
  let n = 0;
  for (let j = 1; j < cells.length; j++) {
    if (cells[j].cls !== null && cells[j - 1].cls !== null && cells[j].cls !== cells[j - 1].cls) n++;
  }
  return n;
}

/**
 * Fill `strip` with one cell per epoch (data-cls, data-epoch, a title) and mark the current epoch index `k`.
 * names/colors: the classes' names and palette; onPick(k): a cell was clicked (go to that epoch).
 */
export function renderStrip(strip, cells, k, names, colors, onPick) {
  if (strip.childElementCount !== cells.length) {
    strip.replaceChildren(...cells.map((c) => h("div", { class: "ttvis-history-cell", onclick: () => onPick(c.k) })));
  }
  cells.forEach((c, j) => {
    const cell = strip.children[j];
    const name = c.cls === null ? "–" : names[c.cls] ?? String(c.cls);
    cell.dataset.cls = c.cls === null ? "" : String(c.cls);
    cell.dataset.epoch = String(c.epoch);
    cell.style.background = c.cls === null ? "#eee" : colors[c.cls] || "#888";
    cell.style.opacity = c.conf === null ? "1" : String(0.35 + 0.65 * c.conf);
    cell.classList.toggle("ttvis-current", c.k === k);
    cell.classList.toggle("ttvis-wrong", c.wrong);
    cell.title = `epoch ${c.epoch}: ${name}` + (c.conf !== null ? ` (${Math.round(c.conf * 100)}%)` : "")
      + (c.wrong ? " · wrong" : "") + " · click to go there";
  });
}
