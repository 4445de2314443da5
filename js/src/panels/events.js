// Events panel: the training events of the shown epoch against the previous recorded one, a count per kind,
// computed in the kernel (analysis.training_events); clicking a kind makes the selection exactly its samples
// (the kernel sets w.selection), clicking it again clears it; "focus" dims everything but the selection.
import { h } from "../dom.js";
import { redrawnPanel } from "./index.js";

/** kind -> [short name, what it means, indent]: the order and names of analysis.KINDS. */
export const EVENT_KINDS = Object.freeze({
  prediction_flip: ["flipped", "the predicted class changed since the previous recorded epoch", 0],
  became_wrong: ["→ wrong", "flipped from the label to another class", 1],
  became_correct: ["→ correct", "flipped to the label", 1],
  confidence_change: ["confidence Δ", "the probability of the label changed by more than the threshold (0.5)", 0],
  significant_movement: ["moved a lot", "moved unusually far (mean + 2σ) towards or away from where it ends up", 0],
  moved_closer: ["→ closer", "moved unusually far towards its final representation", 1],
  moved_farther: ["→ farther", "moved unusually far away from its final representation", 1],
});

/** What a row shows for `kind` in an `events` answer `ev` (or null while none). Pure. */
export function eventRow(ev, kind, active) {
  if (!ev || ev.status !== "ready") return { count: "…", enabled: false, title: EVENT_KINDS[kind][1] };
  if (ev.not_computable && kind in ev.not_computable) {
    return { count: "–", enabled: false, title: `not computable: ${ev.not_computable[kind]}` };
  }
  const n = ev.counts?.[kind] ?? 0;
  const on = !!active && active.event === kind && active.epoch === ev.epoch;
  return { count: n.toLocaleString(), enabled: n > 0, active: on,
    title: `${EVENT_KINDS[kind][1]}: ${n} sample${n === 1 ? "" : "s"}; click to ${on ? "clear the selection" : "select them"}` };
}

export function eventsPanel(ctx, dbg) {
  const el = h("div", { class: "ttvis-events ttvis-panel" });
  const sub = h("div", { class: "ttvis-panel-sub" });
  const rows = Object.entries(EVENT_KINDS).map(([kind, [name, , indent]]) => {
    const count = h("span", { class: "ttvis-event-count" });
    const row = h("div", { class: `ttvis-event${indent ? " ttvis-event-sub" : ""}`, role: "button", tabindex: "0",
      onclick: () => dbg.selectEvent(kind),
      onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); dbg.selectEvent(kind); } } },
    h("span", { class: "ttvis-event-name" }, name), count);
    row.dataset.kind = kind;
    return { kind, row, count };
  });
  const focus = h("input", { type: "checkbox", class: "ttvis-focus", onchange: () => dbg.set("focus", focus.checked) });
  el.append(h("div", { class: "ttvis-panel-title" }, "events"), sub, ...rows.map((r) => r.row),
    h("label", { class: "ttvis-opt ttvis-focus-label", title: "dim everything but the selection" }, focus, "focus"));

  function render() {
    const ev = dbg.eventsNow();
    const epoch = dbg.epoch;
    if (!ev) sub.textContent = epoch === undefined ? "" : `epoch ${epoch}`;
    else if (ev.status === "pending") sub.textContent = `epoch ${ev.epoch}: computing…`;
    else if (ev.status === "error") sub.textContent = `unavailable: ${ev.error}`;
    else if (ev.previous === null || ev.previous === undefined) sub.textContent = `epoch ${ev.epoch}: first epoch, nothing to compare`;
    else sub.textContent = `epoch ${ev.epoch} vs ${ev.previous}`;
    sub.title = sub.textContent;
    const active = dbg.activeEvent;
    for (const { kind, row, count } of rows) {
      const r = eventRow(ev, kind, active);
      count.textContent = r.count;
      row.title = r.title;
      row.classList.toggle("ttvis-off", !r.enabled && !r.active);
      row.classList.toggle("ttvis-active", !!r.active);
      row.setAttribute("aria-disabled", r.enabled || r.active ? "false" : "true");
    }
    focus.checked = dbg.focus;
  }

  return redrawnPanel(el, render, ["epoch", "analysis", "selection", "info"]);
}
