// One rendered view of a TimeTravelWidget: builds the DOM, creates the parts (data feed, timeline, model
// sync, renderer, frame loop, interaction, panels, debugger, test hook) and wires them; holds the view-level actions.
import { Camera } from "./camera.js";
import { Controls } from "./controls.js";
import { Debugger } from "./debugger.js";
import { h, hexToRgb } from "./dom.js";
import { DataFeed } from "./feed.js";
import { FrameLoop } from "./frame.js";
import { destroyedHook, installHook } from "./hook.js";
import { Interaction } from "./interaction.js";
import { LassoOverlay } from "./lasso.js";
import { exportPanel } from "./panels/export.js";
import { progressPanel } from "./panels/progress.js";
import { PanelHost, panelContext, textPanel } from "./panels/index.js";
import { eventsPanel } from "./panels/events.js";
import { legendPanel } from "./panels/legend.js";
import { overlaysPanel } from "./panels/overlays.js";
import { samplePanel } from "./panels/sample.js";
import { territoryPanel } from "./panels/territory.js";
import { Picker } from "./picking.js";
import { createContext, Renderer } from "./renderer.js";
import { Refusals, SHOW_MS } from "./refusals.js";
import { observeSize } from "./resize.js";
import { loadedGradient } from "./stream.js";
import { styleElement } from "./styles.js";
import { ModelSync } from "./sync.js";
import { TerritoryLoader } from "./territories.js";
import { Timeline } from "./timeline.js";
import { Tooltip } from "./tooltip.js";
import { DataStore, SampleCache } from "./transport.js";

const GESTURES = "drag: pan · wheel: zoom · click: select · shift-click: add · shift-drag: lasso · dbl-click: fit";

export class TimeTravelView {
  constructor(model, el) {
    this.model = model;
    this.error = null;
    this.hovered = -1;
    this.selection = new Set(model.get("selection") || []);
    this.store = new DataStore();
    this.camera = new Camera();
    this.picker = new Picker(this.store);
    this.cache = SampleCache.of(model);
    this.timeline = new Timeline(() => this.info.epochs || [], this.store, model.get("time") || 0);
    this.sync = new ModelSync(model, {
      time: () => this.timeline.t, epochAt: (t) => this.timeline.epochAt(t), hovered: () => this.hovered,
    });
    this.feed = new DataFeed(this.store, () => this.renderer, (msg) => this.sync.send(msg), {
      meta: () => this.onMeta(), data: () => { this.updateStatus(); this.panels.notify("data"); this.requestRender(); },
      sample: (c, buffers) => this.cache.receive(c, buffers), focus: (i) => this.focus(i), error: (m) => this.fail(m),
      refused: (c) => this.refused(c), message: (c, buffers) => this.debug.receive(c, buffers),
      reallocated: () => { this.loop.invalidateFlags(); this.selectionChanged(false); },
      bounds: () => this.boundsChanged(),
    });
    this.refusals = new Refusals(this.feed.rid);
    // ask for the data before the rest of the set-up (the WebGL context, DOM, panels, shaders: software GL takes
    // a tenth of a second for the context alone): the kernel's answer travels while the browser works, and is
    // handled once this constructor returns (without WebGL2 the view fails and ignores it)
    this.feed.request();
    this.canvas = h("canvas", { class: "ttvis-canvas", tabindex: "0" });
    this.gl = createContext(this.canvas);
    this.buildDom(el);
    this.loop = new FrameLoop(this);
    this.territories = new TerritoryLoader(this.store, () => this.renderer, () => this.requestRender());
    this.interaction = new Interaction(this);
    this.panels = new PanelHost({ side: this.side, bottom: this.bottom }, panelContext(this));
    this.debug = new Debugger(this);
    this.panels.listen((change) => this.debug.update(change));
    this.panels.add(legendPanel);
    this.panels.add(textPanel("ttvis-legend-note", GESTURES));
    this.panels.add((ctx) => eventsPanel(ctx, this.debug));
    this.panels.add((ctx) => overlaysPanel(ctx, this.debug));
    this.panels.add((ctx) => samplePanel(ctx, this.debug));
    this.exporter = this.panels.add(exportPanel(this));
    this.panels.add(territoryPanel(this));
    this.panels.add(progressPanel(this));
    this.applyInfo();
    installHook(this);
    this.startRenderer();
    this.bindModel();
    this.stopObserving = observeSize(this.stage, (w, hgt, dpr) => this.resize(w, hgt, dpr));
    this.feed.mark("constructed");
    this.setPlaying(!!model.get("playing"), false);
    this.syncControls();
  }

  buildDom(el) {
    this.root = h("div", { class: "ttvis-root" }, styleElement());
    this.stage = h("div", { class: "ttvis-stage" });
    this.overlay = h("canvas", { class: "ttvis-overlay" });
    this.message = h("div", { class: "ttvis-message" }, "loading…");
    // a windowed view shows the nearest held epoch while the requested one is on its way (frame.js)
    this.loadingBadge = h("div", { class: "ttvis-loading", style: { display: "none" } });
    this.stage.append(this.canvas, this.overlay, this.message, this.loadingBadge);
    this.side = h("div", { class: "ttvis-side" });
    this.bottom = h("div", { class: "ttvis-bottom" });
    this.root.append(h("div", { class: "ttvis-main" }, this.stage, this.side));
    el.append(this.root);
    this.controls = new Controls(this.root, {
      step: (d) => this.step(d),
      togglePlay: () => this.setPlaying(!this.timeline.playing, true),
      scrub: (v, final) => this.scrub(v, final),
      scrubStart: () => { this.timeline.scrubbing = true; this.setPlaying(false, true); },
      set: (k, v) => this.sync.set({ [k]: v }),
      filter: (k, v) => this.sync.setFilter(k, v),
      marks: () => { this.loop.invalidateFlags(); this.requestRender(); },
      lassoMode: () => { this.interaction.toggleLasso(); this.syncControls(); },
      fit: () => this.fit(),
      find: (i) => this.focus(i),
      clearSelection: () => this.setSelection([]),
    });
    this.root.append(this.bottom);
    this.tooltip = new Tooltip(this.stage, this.cache);
    this.lasso = new LassoOverlay(this.overlay);
  }

  startRenderer() {
    const gl = this.gl;
    if (!gl) {
      this.fail("WebGL2 is not available in this browser, so the plot cannot be drawn. "
        + "Enable hardware acceleration (or WebGL) in the browser settings, or use a recent Chrome, Firefox or Safari.");
      return;
    }
    try {
      this.gl = gl;
      this.renderer = new Renderer(gl);
      this.applyPalette();
      this.feed.mark("renderer");
    } catch (e) {
      this.fail(`Could not start the WebGL2 renderer: ${e.message}`);
    }
    this.onContextLost = (ev) => {
      ev.preventDefault();
      if (!this.destroyed) this.fail("The WebGL context was lost (too many plots open, or the GPU was reset). Re-run the cell to draw again.");
    };
    this.canvas.addEventListener("webglcontextlost", this.onContextLost);
  }

  // ---- the model's changes -------------------------------------------------------------------------
  bindModel() {
    const s = this.sync, tl = this.timeline;
    s.on("msg:custom", (msg, buffers) => {
      this.feed.handle(msg, buffers || []);
      this.exporter.handle(msg);
    });
    s.on("change:time", () => {
      const v = s.get("time");
      if (tl.scrubbing || Math.abs(v - tl.t) < 1e-9) return;
      tl.t = v;
      this.afterTimeChange();
    });
    s.on("change:epoch", () => {
      const k = tl.indexOf(s.get("epoch"));
      if (k >= 0 && Math.round(tl.t) !== k && !tl.scrubbing && !tl.playing) {
        tl.t = k;
        this.afterTimeChange();
      }
    });
    s.on("change:selection", () => {
      this.selection = new Set(s.get("selection") || []);
      this.selectionChanged(false);
    });
    s.on("change:playing", () => this.setPlaying(!!s.get("playing"), false));
    for (const k of ["color_by", "filters", "point_size", "show_territory", "territory_opacity", "territory_extent", "speed"]) {
      s.on(`change:${k}`, () => { this.loop.invalidateFlags(); this.syncControls(); this.requestRender(); });
    }
    s.on("change:info", () => { this.applyInfo(); this.applyPalette(); });
    s.on("change:status", () => this.updateStatus());
    s.on("change:progress", () => this.panels.notify("progress"));
    s.on("change:hovered", () => {
      const v = s.get("hovered");
      if (v !== this.hovered && !this.interaction.mouse) this.setHovered(v, false);
    });
  }

  get info() {
    return this.model.get("info") || {};
  }

  applyInfo() {
    this.controls.setInfo(this.info);
    this.panels.notify("info");
    this.updateStatus();
  }

  applyPalette() {
    if (!this.renderer) return;
    const cols = (this.info.colors || []).map(hexToRgb).flat();
    this.renderer.setPalette(new Uint8Array(cols.length ? cols : [128, 128, 128]));
    this.requestRender();
  }

  onMeta() {
    this.loop.allocate(this.store.n);
    this.selectionChanged(false);
    if (!this.camera.touched) this.camera.fit(this.store.bounds);
  }

  updateStatus() {
    const s = this.store;
    let txt = this.sync.get("status") || "";
    if (s.meta && s.window) txt = txt || `${s.epochsLoaded} of ${s.nEpochs} epochs held (window)`;
    else if (s.meta && !s.done) txt = s.live ? `${s.epochsLoaded}/${s.nEpochs} epochs` : `loading epochs ${s.epochsLoaded}/${s.nEpochs}…`;
    else if (s.meta) {
      const b = this.renderer?.bytes || 0;
      txt = txt || `${s.nEpochs} epochs on GPU (${b >= 1048576 ? (b / 1048576).toFixed(1) + " MB" : Math.ceil(b / 1024) + " KB"})`;
    }
    if (s.meta) this.controls.slider.style.background = loadedGradient((e) => s.epochReady(e), s.nEpochs);
    const notice = this.refusals.text(performance.now());
    this.controls.setStatus(notice || txt, !!notice);
    if (this.error) return;
    if (s.meta && s.anyReady()) this.message.style.display = "none";
    else this.message.textContent = s.meta ? (s.live ? "fitting the first epoch…" : "loading the first epoch…")
      : "waiting for the kernel…";
  }

  /** New bounds (a live fit spread out): positions were re-quantized in place, so nothing moves on screen;
   * before the first frame the camera frames them. */
  boundsChanged() {
    this.picker.invalidate();
    if (!this.camera.touched && !this.loop.frames) this.camera.fit(this.store.bounds);
    this.requestRender();
  }

  /** The kernel refused something this view sent: a notice in the status line for SHOW_MS. */
  refused(c) {
    this.debug.refused(c);
    if (!this.refusals.receive(c, performance.now())) return;
    this.updateStatus();
    clearTimeout(this.refusalTimer);
    this.refusalTimer = setTimeout(() => { if (!this.destroyed) this.updateStatus(); }, SHOW_MS + 50);
  }

  fail(msg) {
    this.error = msg;
    this.feed.failed = true;
    this.message.textContent = msg;
    this.message.classList.add("ttvis-error");
    this.message.style.display = "flex";
  }

  // ---- actions (controls, keyboard, pointer, panels and the kernel call these) -----------------------
  requestRender() {
    this.loop.request();
  }

  scrub(t, final) {
    this.timeline.scrubbing = !final;
    this.timeline.t = t;
    this.afterTimeChange();
    this.sync.pushTime(final);
  }

  step(d) {
    this.setPlaying(false, true);
    this.timeline.step(d);
    this.afterTimeChange();
    this.sync.pushTime(true);
  }

  afterTimeChange() {
    this.syncControls();
    this.requestRender();
  }

  setPlaying(on, push) {
    const was = this.timeline.playing;
    this.timeline.setPlaying(on, performance.now());
    if (push) this.sync.setPlaying(on);
    if (was && !on) this.sync.pushTime(true);
    this.syncControls();
    this.requestRender();
  }

  syncControls() {
    const s = this.sync, tl = this.timeline;
    this.controls.sync({
      t: tl.t, epoch: tl.epochAt(tl.t), playing: tl.playing, scrubbing: tl.scrubbing,
      speed: s.get("speed"), colorBy: s.get("color_by"), showTerritory: s.get("show_territory"),
      pointSize: s.get("point_size"), filters: s.get("filters") || {}, hasPred: this.store.meta ? this.store.hasPred : true,
      lassoMode: this.interaction.lassoMode, nSelected: this.selection.size,
    });
  }

  setSelection(indices) {
    this.selection = new Set(indices);
    this.selectionChanged(true);
  }

  selectionChanged(push) {
    if (this.renderer && this.store.meta) {
      const n = this.store.n;
      this.renderer.uploadSelection(Uint32Array.from([...this.selection].filter((i) => i >= 0 && i < n)));
    }
    if (push) this.sync.setSelection(this.selection);
    this.loop.invalidateFlags();
    this.syncControls();
    this.panels.notify("selection");
    this.requestRender();
  }

  setHovered(i, push) {
    this.hovered = i;
    if (push) this.sync.pushHovered();
    this.panels.notify("hover");
    this.requestRender();
  }

  resize(w, hgt, dpr) {
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    this.lasso.resize(w, hgt, dpr);
    this.debug.resize(w, hgt, dpr);
    this.camera.resize(w, hgt);
    if (!this.camera.touched && this.store.meta) this.camera.fit(this.store.bounds);
    this.picker.invalidate();
    this.requestRender();
  }

  fit() {
    if (this.store.meta) this.camera.fit(this.store.bounds);
    this.requestRender();
  }

  /** Data coordinates of sample i at the drawn time, or null before its data arrived. */
  positionOf(i) {
    const s = this.store;
    if (!s.meta || !s.anyReady() || i < 0 || i >= s.n) return null;
    const ft = this.timeline.frameTime();
    return s.positionAt(i, ft.e0, ft.e1, ft.frac);
  }

  /** Centre and zoom on sample i and show its tooltip (find box, or `w.find(i)` in the kernel). */
  focus(i) {
    const p = this.positionOf(i);
    if (!p) return;
    const [xmin, ymin, xmax, ymax] = this.store.bounds;
    const fitK = Math.min(this.camera.w / (xmax - xmin || 1), this.camera.h / (ymax - ymin || 1));
    this.camera.centerOn(p[0], p[1], Math.max(this.camera.k, fitK * 3));
    this.interaction.focused = i;
    this.setHovered(i, false);
    const [lx, ly] = this.camera.toLocal(p[0], p[1]);
    this.interaction.showTooltip(i, lx, ly);
  }

  destroy() {
    this.destroyed = true;
    try {  // this view can no longer render exports (export.py)
      this.sync.send({ type: "bye", rid: this.feed.rid });
    } catch (e) { /* the comm is gone already */ }
    clearTimeout(this.refusalTimer);
    this.loop.dispose();
    if (this.feed.follower) this.feed.follower.dispose();
    this.sync.dispose();
    this.territories.dispose();
    this.interaction.dispose();
    this.panels.destroy();
    this.debug.dispose();
    if (this.stopObserving) this.stopObserving();
    if (this.onContextLost) this.canvas.removeEventListener("webglcontextlost", this.onContextLost);
    if (this.renderer) this.renderer.dispose();
    this.renderer = null;
    this.gl = null;
    destroyedHook(this.canvas);
    this.root.remove();
  }
}
