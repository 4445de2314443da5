// The home of the view's panels: the panel contract, and the host that mounts panels into the view's side
// or bottom area, hands each one the view's state, a send function and actions, and tells it what changed.
//
// Contract. A panel is made by a factory `(ctx) => panel`:
//   ctx.state    read-only view state (getters, read them when told): info, store (DataStore), time (drawn,
//                fractional epoch index), epochIndex, epoch (recorded epoch number), selection (sorted
//                array), hovered (-1 none), colorBy, filters, counts (visible points per class), playing
//   ctx.send     send(msg, buffers?): a custom message to the kernel (which validates it; see widget.py)
//   ctx.samples  request(index, cb): a sample's image/text ({url, text, error}), fetched lazily (the "sample"
//                message) and cached per model
//   ctx.actions  setSelection(indices), setFilter(key, value), set({trait: value}), focus(index),
//                setTime(t), requestRender()
//   panel        {el: HTMLElement, area?: "side" | "bottom" (default "side"), update?(change), destroy?()}
// `update(change)` is called with one of CHANGES after the view has applied the change; panels are
// mounted in registration order and updated in that order, after the host's listeners (non-visual parts
// that follow the same changes: the debugger). A panel never calls model.set itself.
import { h } from "../dom.js";

export const CHANGES = Object.freeze([
  "info",       // the widget's info trait (dataset, epochs, classes, palette)
  "data",       // stream progress (meta, epochs loaded, territories, done)
  "time",       // the drawn time changed (at most once per frame, also mid-epoch while playing/scrubbing)
  "epoch",      // the nearest epoch index changed
  "selection",  // the selection changed (from the plot, a panel or the kernel)
  "hover",      // the hovered sample changed
  "flags",      // per-point flags recomputed: filters, colouring, counts at the shown epoch
  "analysis",   // the debugger's state changed: an analysis answer arrived, a toggle, the pinned sample
  "progress",   // the background fit's progress trait changed (panels/progress.js)
]);

export class PanelHost {
  /** areas: {side: HTMLElement, bottom: HTMLElement}; ctx: {state, send, actions} shared by all panels. */
  constructor(areas, ctx) {
    this.areas = areas;
    this.ctx = ctx;
    this.panels = [];
    this.listeners = [];
  }

  /** fn(change) hears every change before the panels do. */
  listen(fn) {
    this.listeners.push(fn);
  }

  /** Create a panel from its factory and mount it; returns the panel. */
  add(factory) {
    const panel = factory(this.ctx);
    const area = this.areas[panel.area || "side"];
    if (!area) throw new Error(`unknown panel area ${panel.area}`);
    area.append(panel.el);
    area.classList.add("ttvis-has-panels");
    this.panels.push(panel);
    return panel;
  }

  notify(change) {
    for (const fn of this.listeners) fn(change);
    for (const p of this.panels) if (p.update) p.update(change);
  }

  destroy() {
    for (const p of this.panels) {
      if (p.destroy) p.destroy();
      p.el.remove();
    }
    this.panels = [];
    this.listeners = [];
  }
}

/** The ctx handed to every panel of view `v` (a TimeTravelView): live getters over its state, its actions. */
export function panelContext(v) {
  const tl = v.timeline;
  const state = {
    get info() { return v.info; },
    get store() { return v.store; },
    get time() { return tl.frameTime().time; },
    get epochIndex() { return tl.frameTime().k; },
    get epoch() { return tl.epochAt(tl.frameTime().time); },
    get selection() { return [...v.selection].sort((a, b) => a - b); },
    get hovered() { return v.hovered; },
    get colorBy() { return v.sync.get("color_by"); },
    get filters() { return v.sync.get("filters") || {}; },
    get counts() { return v.loop.counts; },
    get playing() { return tl.playing; },
  };
  const actions = {
    setSelection: (indices) => v.setSelection(indices),
    setFilter: (key, value) => v.sync.setFilter(key, value),
    set: (values) => v.sync.set(values),
    focus: (i) => v.focus(i),
    setTime: (t) => v.scrub(t, true),
    requestRender: () => v.requestRender(),
  };
  return { state, send: (msg, buffers) => v.sync.send(msg, buffers), actions, samples: v.cache };
}

/** A panel showing one static line of text (help, notes). */
export function textPanel(className, text, area = "side") {
  return () => ({ el: h("div", { class: className }, text), area });
}

/** A bottom-area panel drawn by render() now and again on each change named in `changes`. */
export function redrawnPanel(el, render, changes) {
  render();
  return { el, area: "bottom", update: (change) => { if (changes.includes(change)) render(); } };
}
