// Controls: header (dataset, N, epochs, status), time bar (step, play/pause, slider with continuous scrubbing,
// speed), toolbar (colour by, territory, point size, marks, filters, lasso, find, fit, selection).
import { h } from "./dom.js";
import { MARK } from "./flags.js";

const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32];

export class Controls {
  constructor(root, cb) {
    this.cb = cb;
    this.title = h("span", { class: "ttvis-title" });
    this.meta = h("span", { class: "ttvis-meta" });
    this.status = h("span", { class: "ttvis-status" });
    this.header = h("div", { class: "ttvis-header" }, this.title, this.meta, this.status);

    this.back = h("button", { class: "ttvis-step ttvis-step-back", title: "previous epoch (←)", onclick: () => cb.step(-1) }, "◀");
    this.play = h("button", { class: "ttvis-play", title: "play / pause (space)", onclick: () => cb.togglePlay() }, "▶");
    this.fwd = h("button", { class: "ttvis-step ttvis-step-fwd", title: "next epoch (→)", onclick: () => cb.step(1) }, "▶▏");
    this.back.textContent = "◀◀";
    this.fwd.textContent = "▶▶";
    this.slider = h("input", { class: "ttvis-slider", type: "range", min: "0", max: "0", step: "any", value: "0",
      "aria-label": "training time (epoch)" });
    this.slider.addEventListener("input", () => cb.scrub(parseFloat(this.slider.value), false));
    this.slider.addEventListener("change", () => cb.scrub(parseFloat(this.slider.value), true));
    this.slider.addEventListener("pointerdown", () => cb.scrubStart());
    this.epochLabel = h("span", { class: "ttvis-epoch" }, "epoch –");
    this.speed = h("select", { class: "ttvis-speed", title: "playback speed (epochs per second)",
      onchange: () => cb.set("speed", parseFloat(this.speed.value)) },
    SPEEDS.map((s) => h("option", { value: String(s) }, `${s}×/s`)));
    this.timebar = h("div", { class: "ttvis-timebar" }, this.back, this.play, this.fwd, this.slider, this.epochLabel, this.speed);

    this.colorBy = h("select", { class: "ttvis-color-by", title: "colour points by",
      onchange: () => cb.set("color_by", this.colorBy.value) },
    h("option", { value: "label" }, "colour: label"), h("option", { value: "prediction" }, "colour: prediction"));
    this.territory = h("input", { type: "checkbox", class: "ttvis-territory-toggle",
      onchange: () => cb.set("show_territory", this.territory.checked) });
    this.size = h("input", { type: "range", class: "ttvis-size", min: "1", max: "16", step: "0.5",
      title: "point size", oninput: () => cb.set("point_size", parseFloat(this.size.value)) });
    this.markErrors = h("input", { type: "checkbox", class: "ttvis-mark-errors", checked: true,
      onchange: () => cb.marks() });
    this.markFlips = h("input", { type: "checkbox", class: "ttvis-mark-flips", checked: true,
      onchange: () => cb.marks() });
    this.split = h("select", { class: "ttvis-filter-split", title: "show train / test samples",
      onchange: () => cb.filter("split", this.split.value) },
    h("option", { value: "all" }, "train+test"), h("option", { value: "train" }, "train"), h("option", { value: "test" }, "test"));
    this.correct = h("select", { class: "ttvis-filter-correctness", title: "show correctly / incorrectly classified samples",
      onchange: () => cb.filter("correctness", this.correct.value) },
    h("option", { value: "all" }, "all"), h("option", { value: "correct" }, "correct"), h("option", { value: "incorrect" }, "misclassified"));
    this.lasso = h("button", { class: "ttvis-lasso", title: "lasso mode (or shift-drag); ctrl/cmd adds to the selection",
      onclick: () => cb.lassoMode() }, "lasso");
    this.fit = h("button", { class: "ttvis-fit", title: "fit the view (double-click the plot)", onclick: () => cb.fit() }, "fit");
    this.findInput = h("input", { class: "ttvis-find-input", type: "number", min: "0", placeholder: "sample #",
      onkeydown: (ev) => { if (ev.key === "Enter") cb.find(parseInt(this.findInput.value, 10)); } });
    this.findBtn = h("button", { class: "ttvis-find", onclick: () => cb.find(parseInt(this.findInput.value, 10)) }, "find");
    this.selInfo = h("span", { class: "ttvis-selection-info" });
    this.clearSel = h("button", { class: "ttvis-clear-selection", title: "clear the selection (Esc)", onclick: () => cb.clearSelection() }, "clear");
    const label = (txt, el) => h("label", { class: "ttvis-opt" }, el, txt);
    this.toolbar = h("div", { class: "ttvis-toolbar" },
      this.colorBy, label("territory", this.territory), label("errors", this.markErrors), label("flips", this.markFlips),
      h("label", { class: "ttvis-opt" }, "size", this.size), this.split, this.correct,
      this.lasso, this.fit, h("span", { class: "ttvis-find-box" }, this.findInput, this.findBtn),
      this.selInfo, this.clearSel);
    root.prepend(this.header);
    root.append(this.timebar, this.toolbar);
  }

  setInfo(info) {
    const eps = info.epochs || [];
    this.title.textContent = info.name || "ttvis";
    this.meta.textContent = `N = ${(info.n ?? 0).toLocaleString()} · epochs ${eps[0] ?? "–"}…${eps[eps.length - 1] ?? "–"}`
      + ` (${eps.length}) · ${info.method || ""}`;
    this.slider.max = String(Math.max(0, eps.length - 1));
    this.findInput.max = String(Math.max(0, (info.n ?? 1) - 1));
    this.territory.disabled = false;
  }

  /** The header's status line; `warn` marks a notice (e.g. a refused message). */
  setStatus(text, warn = false) {
    this.status.textContent = text;
    this.status.classList.toggle("ttvis-status-warn", !!warn);
  }

  sync(s) {
    // the focused element as seen from the slider's own tree: in a shadow root (marimo) document.activeElement
    // is the shadow host, never the slider
    const active = this.slider.getRootNode().activeElement ?? document.activeElement;
    if (active !== this.slider || !s.scrubbing) this.slider.value = String(s.t);
    this.epochLabel.textContent = `epoch ${s.epoch}` + (Math.abs(s.t - Math.round(s.t)) > 1e-3 ? ` (t = ${s.t.toFixed(2)})` : "");
    this.play.textContent = s.playing ? "❚❚" : "▶";
    this.play.classList.toggle("ttvis-playing", s.playing);
    this.play.setAttribute("aria-pressed", s.playing ? "true" : "false");
    const sp = String(s.speed);
    if (![...this.speed.options].some((o) => o.value === sp)) this.speed.append(h("option", { value: sp }, `${sp}×/s`));
    this.speed.value = sp;
    this.colorBy.value = s.colorBy;
    this.territory.checked = s.showTerritory;
    this.size.value = String(s.pointSize);
    this.split.value = s.filters.split || "all";
    this.correct.value = s.filters.correctness || "all";
    this.correct.disabled = !s.hasPred;
    this.lasso.classList.toggle("ttvis-active", s.lassoMode);
    this.selInfo.textContent = s.nSelected ? `${s.nSelected.toLocaleString()} selected` : "";
    this.clearSel.style.display = s.nSelected ? "" : "none";
  }

  get marks() {
    return (this.markErrors.checked ? MARK.ERRORS : 0) | (this.markFlips.checked ? MARK.FLIPS : 0);
  }
}
