// Progress panel: the background fit's state under the plot (widget.progress: state, stage, epochs done of
// total, ETA, error) and a Stop button (a {type: "stop"} message: the fit ends at the next epoch boundary and
// stays resumable). Hidden when there is no fit, or once it is done.
import { h } from "../dom.js";
import { redrawnPanel } from "./index.js";

const SHOWN = new Set(["starting", "fitting", "waiting", "following", "stopped", "error"]);

/** One line of text for a progress dict (pure; also used by tests). */
export function progressText(p) {
  if (!p || !p.state) return "";
  if (p.state === "error") return `fit failed: ${p.error || "unknown error"}`;
  const eta = p.eta_s == null ? "" : ` · ETA ${p.eta_s < 90 ? Math.ceil(p.eta_s) + " s" : Math.ceil(p.eta_s / 60) + " min"}`;
  const count = `${p.epochs_done ?? 0}/${p.epochs_total ?? "?"} epochs fitted`;
  if (p.state === "following") return `${count} · live: waiting for new epochs`;
  if (p.state === "stopped") return `${count} · stopped (a new widget on this run resumes)`;
  return `${count}${p.stage ? " · " + p.stage : ""}${eta}`;
}

/** Factory for the view `v` (a TimeTravelView), which calls `update("progress")` on the trait's changes. */
export function progressPanel(v) {
  return (ctx) => {
    const text = h("span", { class: "ttvis-progress-text" });
    const stop = h("button", { class: "ttvis-stop", title: "stop the fit after the current epoch (resumable)",
      onclick: () => ctx.send({ type: "stop" }) }, "Stop");
    const el = h("div", { class: "ttvis-progress" }, text, stop);
    const update = () => {
      const p = v.model.get("progress") || {};
      el.style.display = SHOWN.has(p.state) ? "flex" : "none";
      text.textContent = progressText(p);
      stop.style.display = ["starting", "fitting", "waiting", "following"].includes(p.state) ? "" : "none";
    };
    return redrawnPanel(el, update, ["progress", "info"]);
  };
}
