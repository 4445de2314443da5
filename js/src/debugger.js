// The debugger's view side (issue 26 item 5): which sample is inspected (hovered, else pinned), the
// view-local toggles (neighbour lines, trails, vis. errors, focus), the analysis requests this view sends and
// the small answers it keeps, and the drawing of trails, error marks and neighbour lines in each frame.
// The kernel computes everything (widget/debugger.py); this file asks, keeps answers and draws.
import { h } from "./dom.js";
import { MarkLayer, maskToIndices } from "./overlays/marks.js";
import { NeighborLines, neighborSegments } from "./overlays/neighbors.js";
import { TRAIL_CAP, TrailLayer, trailSamples } from "./overlays/trails.js";
import { program } from "./renderer.js";
import { layerTable } from "./stream.js";

/** Kernel answers this file handles (the types of the requests it sends). */
export const ANSWERS = Object.freeze(["events", "event_select", "neighbors", "sample_detail", "similar", "influence",
  "vis_errors"]);
export const SELECT_DIM = 0.22;  // alpha factor of unselected points while something is selected
export const FOCUS_DIM = 0.05;   // ... in focus mode
const ASK_MS = 120;   // a hovered sample or a new epoch is asked about once it has held this long
const KEEP = 64;      // neighbour / top-prediction answers kept (per sample and epoch)

/** A small LRU map. */
class Lru extends Map {
  constructor(limit) { super(); this.limit = limit; }
  touch(key) {
    const v = super.get(key);
    if (v !== undefined) { this.delete(key); super.set(key, v); }
    return v;
  }
  put(key, v) {
    this.delete(key);
    super.set(key, v);
    while (this.size > this.limit) this.delete(this.keys().next().value);
  }
}

const sortedKey = (indices) => [...indices].sort((a, b) => a - b).join(",");

export class Debugger {
  /** v: the TimeTravelView (reads store, timeline, selection, hovered, camera, loop, stage, feed; sends via sync). */
  constructor(v) {
    this.v = v;
    this.lines = true;
    this.trails = true;
    this.visErr = false;
    this.focus = false;
    this.k = 15;
    this.pinned = -1;
    this.neighbors = new Lru(KEEP);
    this.details = new Lru(KEEP);
    this.lastNb = null;        // latest neighbours answer (drawn while the current epoch's is on its way)
    this.events = new Map();   // epoch -> answer or {status: "pending"}
    this.visErrors = new Map();  // epoch -> {epoch, count, indices} or {status}
    this.shownMarks = null;
    this.results = null;       // similar / why: {kind, index, status, ...answer, selectionKey}
    this.activeEvent = null;   // {epoch, event, count}: the kind whose samples the selection holds
    this.timers = {};
    this.trailsDirty = true;
    this.glError = null;
    this.canvas = h("canvas", { class: "ttvis-lines" });
    v.stage.insertBefore(this.canvas, v.overlay);
    this.lineView = new NeighborLines(this.canvas);
  }

  get rid() { return this.v.feed.rid; }
  get epoch() { const tl = this.v.timeline; return tl.epochAt(tl.frameTime().time); }
  /** The inspected sample: the hovered one, else the pinned one (a single selected or clicked sample), or -1. */
  get subject() { return this.v.hovered >= 0 ? this.v.hovered : this.pinned; }
  get dim() { return this.focus ? FOCUS_DIM : SELECT_DIM; }

  notify() {
    this.v.panels.notify("analysis");
    this.v.requestRender();
  }

  send(msg) {
    this.v.sync.send({ ...msg, rid: this.rid });
  }

  later(name, fn, ms = ASK_MS) {
    clearTimeout(this.timers[name]);
    this.timers[name] = setTimeout(() => { if (!this.v.destroyed) fn(); }, ms);
  }

  // ---- what the view tells it (PanelHost listener: called before the panels) ---------------------------
  update(change) {
    if (change === "epoch" || (change === "data" && this.v.store.meta && !this.events.size)) {
      const now = !this.v.timeline.playing && !this.v.timeline.scrubbing && change === "data";
      this.later("epoch", () => { this.askEvents(); this.askSubject(); if (this.visErr) this.askVisErrors(); }, now ? 0 : ASK_MS);
    } else if (change === "hover") {
      this.later("subject", () => this.askSubject());
    } else if (change === "selection") {
      this.selectionChanged();
    } else if (change === "flags") {
      this.trailsDirty = true;
    }
  }

  selectionChanged() {
    const sel = this.v.selection;
    if (sel.size === 1) this.pinned = sel.values().next().value;
    else if (sel.size === 0) {
      this.pinned = -1;
      this.results = null;
    } else if (!(this.results && this.results.selectionKey === sortedKey(sel))) this.pinned = -1;
    if (this.activeEvent && (this.activeEvent.count !== sel.size || this.activeEvent.epoch !== this.epoch)) this.activeEvent = null;
    this.trailsDirty = true;
    this.askSubject();
  }

  // ---- requests -------------------------------------------------------------------------------------------
  askEvents() {
    const e = this.epoch;
    if (e === undefined || this.events.has(e) && this.events.get(e).status !== "error") return;
    this.events.set(e, { epoch: e, status: "pending" });
    this.send({ type: "events", epoch: e });
    this.notify();
  }

  askSubject() {
    const i = this.subject, e = this.epoch;
    if (i < 0 || e === undefined) return;
    const key = `${i}:${e}`;
    if (this.lines && !this.neighbors.touch(key)) {
      this.neighbors.put(key, { index: i, epoch: e, status: "pending" });
      this.send({ type: "neighbors", index: i, epoch: e, k: Math.min(this.k, Math.max(1, this.v.store.n - 1)) });
    }
    if (this.v.store.hasPred && !this.details.touch(key)) {
      this.details.put(key, { index: i, epoch: e, status: "pending" });
      // a windowed view holds its window's predictions only: the kernel sends the whole history too
      this.send({ type: "sample_detail", index: i, epoch: e, ...(this.v.store.window && !this.historyOf(i) ? { history: true } : {}) });
    }
  }

  askVisErrors() {
    const e = this.epoch;
    if (e === undefined || this.visErrors.has(e)) return;
    this.visErrors.set(e, { epoch: e, status: "pending" });
    this.send({ type: "vis_errors", epoch: e });
    this.notify();
  }

  /** Click on an event kind: the kernel sets the selection to exactly its samples; again: clear. */
  selectEvent(kind) {
    const ev = this.eventsNow();
    if (!ev || ev.status !== "ready" || !(kind in ev.counts)) return;
    if (this.activeEvent && this.activeEvent.event === kind && this.activeEvent.epoch === ev.epoch) {
      this.activeEvent = null;
      this.v.setSelection([]);
      return;
    }
    this.activeEvent = { epoch: ev.epoch, event: kind, count: ev.counts[kind] };
    this.send({ type: "event_select", epoch: ev.epoch, event: kind });
    this.notify();
  }

  similar(i) {
    if (i < 0) return;
    this.pin(i);
    this.results = { kind: "similar", index: i, epoch: this.epoch, status: "pending" };
    this.send({ type: "similar", index: i, epoch: this.epoch, k: Math.min(10, Math.max(1, this.v.store.n - 1)), metric: "cosine" });
    this.notify();
  }

  why(i) {
    if (i < 0) return;
    this.pin(i);
    this.results = { kind: "influence", index: i, status: "pending" };
    this.send({ type: "influence", index: i, k: Math.min(8, Math.max(1, this.v.store.n - 1)) });
    this.notify();
  }

  pin(i) {
    this.pinned = i;
    this.askSubject();
    this.notify();
  }

  set(toggle, on) {
    this[toggle] = !!on;
    if (toggle === "visErr" && on) this.askVisErrors();
    if (toggle === "lines" && on) this.askSubject();
    this.trailsDirty = true;
    this.notify();
  }

  // ---- answers --------------------------------------------------------------------------------------------
  /** A kernel message for this view's debugger; false when it is not one. */
  receive(c, buffers) {
    if (!ANSWERS.includes(c.type)) return false;
    if (c.rid !== this.rid) return true;
    const key = `${c.index}:${c.epoch}`;
    if (c.type === "events") this.events.set(c.epoch, c);
    else if (c.type === "neighbors") {
      this.neighbors.put(key, c);
      if (c.status === "ready") this.lastNb = c;
    } else if (c.type === "sample_detail") this.details.put(key, c);
    else if (c.type === "event_select" && c.status === "error") this.activeEvent = { ...this.activeEvent, error: c.error };
    else if ((c.type === "similar" || c.type === "influence") && this.results && this.results.index === c.index
      && this.results.kind === c.type) {
      const picked = c.type === "similar" ? c.indices || [] : [...(c.proponents?.indices || []), ...(c.opponents?.indices || [])];
      this.results = { ...c, kind: c.type, selectionKey: sortedKey(new Set(picked)) };
    } else if (c.type === "vis_errors") {
      const bytes = buffers && buffers[0] ? new Uint8Array(buffers[0].buffer, buffers[0].byteOffset, buffers[0].byteLength) : null;
      this.visErrors.set(c.epoch, c.status === "ready" && bytes
        ? { epoch: c.epoch, status: "ready", count: c.count, indices: maskToIndices(bytes, c.n) } : c);
    }
    this.notify();
    return true;
  }

  /** The kernel refused one of this view's requests: stop waiting for it. */
  refused(c) {
    if (c.rid !== this.rid || !ANSWERS.includes(c.message)) return;
    const err = { status: "error", error: c.reason };
    if (c.message === "events") for (const [e, v] of this.events) if (v.status === "pending") this.events.set(e, { ...v, ...err });
    if ((c.message === "similar" || c.message === "influence") && this.results?.status === "pending") this.results = { ...this.results, ...err };
    if (c.message === "vis_errors") for (const [e, v] of this.visErrors) if (v.status === "pending") this.visErrors.set(e, { ...v, ...err });
    this.notify();
  }

  eventsNow() { return this.events.get(this.epoch) || null; }
  detailNow(i) { return this.details.get(`${i}:${this.epoch}`) || null; }

  /** Sample i's prediction history from the kernel ([[class, confidence] per epoch index]), or null. */
  historyOf(i) {
    for (const [key, d] of this.details) if (d.history && d.index === i && key.startsWith(`${i}:`)) return d.history;
    return null;
  }

  /** Neighbours to draw: the subject's at the shown epoch, else its latest answer. */
  neighborsNow() {
    const i = this.subject;
    if (!this.lines || i < 0) return null;
    const nb = this.neighbors.get(`${i}:${this.epoch}`);
    if (nb && nb.status === "ready") return nb;
    return this.lastNb && this.lastNb.index === i ? this.lastNb : null;
  }

  visErrorsNow() {
    const now = this.visErrors.get(this.epoch);
    if (now && now.status === "ready") this.shownMarks = now;
    return this.visErr ? this.shownMarks : null;
  }

  // ---- drawing (frame.js calls layers() before and afterDraw() after the renderer's draw) -----------------
  initGl() {
    const r = this.v.renderer;
    if (this.trailLayer || this.glError || !r) return;
    try {
      this.trailLayer = new TrailLayer(this.v.gl, program);
      this.markLayer = new MarkLayer(this.v.gl, program, r.metaBuf);
    } catch (e) {
      this.glError = e.message;  // the plot still works without the debugger's layers
    }
  }

  /** {under, over}: the GPU layers to draw around the points at frame time ft. */
  layers(ft) {
    this.initGl();
    if (!this.trailLayer) return null;
    const v = this.v;
    if (this.trailsDirty) {
      this.trailsDirty = false;
      const sel = this.trails ? [...v.selection].sort((a, b) => a - b) : [];
      const labels = v.store.labels;
      this.trailLayer.setSamples(trailSamples(sel, v.loop.hidden), (i) => (labels ? labels[i] : 65535));
    }
    this.trailLayer.time = ft.time;
    const held = `${v.feed.version}:${v.store.nEpochs}:${v.store.epochsLoaded}`;
    if (held !== this.trailsHeld) {  // which layer holds which epoch changed (chunks, evictions, a longer timeline)
      this.trailsHeld = held;
      this.trailLayer.setLayers(layerTable(v.store));
    }
    const marks = this.visErrorsNow();
    if (marks !== this.markedWith) {
      this.markedWith = marks;
      this.markLayer.setIndices(marks ? marks.indices : new Uint32Array(0));
    }
    return { under: [this.trailLayer], over: [this.markLayer] };
  }

  afterDraw(ft) {
    const v = this.v, s = v.store;
    const nb = this.neighborsNow();
    if (!nb || !s.meta || nb.index >= s.n) {
      this.lineView.clear();
      return;
    }
    const at = (j) => {
      const p = s.positionAt(j, ft.e0, ft.e1, ft.frac);
      return v.camera.toLocal(p[0], p[1]);
    };
    this.lineView.draw(at(nb.index), neighborSegments(nb).map(({ kind, to }) => ({ kind, to: at(to) })));
  }

  resize(w, hgt, dpr) {
    this.lineView.resize(w, hgt, dpr);
  }

  /** What the test hook reports (canvas.__ttvis.debug). */
  snapshot() {
    const nb = this.neighborsNow(), ev = this.eventsNow(), marks = this.visErrorsNow(), r = this.results;
    return {
      subject: this.subject, pinned: this.pinned, lines: this.lines, trails: this.trails, visErr: this.visErr,
      focus: this.focus, epoch: this.epoch,
      neighbors: nb ? { index: nb.index, epoch: nb.epoch, kept: nb.kept, gained: nb.gained, lost: nb.lost } : null,
      linesDrawn: this.lineView.drawn, trailSamples: this.trailLayer?.count ?? 0, trailCalls: this.trailLayer?.calls ?? 0,
      trailSegments: this.trailLayer?.segments ?? 0,
      trailCap: TRAIL_CAP, marks: this.markLayer?.count ?? 0, visErrors: marks ? { epoch: marks.epoch, count: marks.count } : null,
      events: ev ? { epoch: ev.epoch, status: ev.status, counts: ev.counts || null } : null,
      activeEvent: this.activeEvent, glError: this.glError,
      results: r ? { kind: r.kind, index: r.index, status: r.status, indices: r.indices || null } : null,
    };
  }

  dispose() {
    for (const t of Object.values(this.timers)) clearTimeout(t);
    this.canvas.remove();
  }
}
