// One rendered view of a TimeTravelWidget: owns a WebGL2 context, the camera, controls and interactions.
import { Camera } from "./camera.js";
import { Controls } from "./controls.js";
import { h, hexToRgb } from "./dom.js";
import { LassoOverlay, selectInPolygon } from "./lasso.js";
import { Legend } from "./legend.js";
import { Picker } from "./picking.js";
import { createContext, Renderer } from "./renderer.js";
import { injectStyles } from "./styles.js";
import { Tooltip } from "./tooltip.js";
import { DataStore, newRid, SampleCache } from "./transport.js";

const HIDDEN = 1, SELECTED = 2, WRONG = 4, FLIP = 8, NOCONF = 16;
const SYNC_MS = 150;

export class TimeTravelView {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.disposers = [];
    this.store = new DataStore();
    this.camera = new Camera();
    this.picker = new Picker(this.store);
    this.cache = SampleCache.of(model);
    this.rid = newRid();
    this.t = model.get("time") || 0;
    this.playing = false;
    this.scrubbing = false;
    this.hovered = -1;
    this.mouse = null;
    this.lassoMode = false;
    this.selection = new Set(model.get("selection") || []);
    this.version = 0;
    this.metaKey = "";
    this.frames = 0;
    this.lastFrameMs = 0;
    this.frameIntervals = [];
    this.firstFrame = false;
    this.createdAt = performance.now();
    this.timings = { firstFrameMs: null, allEpochsMs: null };
    this.pointsDrawn = 0;
    this.decoding = new Set();
    this.error = null;
    this.lastSync = 0;
    this.syncTimer = 0;

    injectStyles(el.ownerDocument);
    this.root = h("div", { class: "ttvis-root" });
    this.stage = h("div", { class: "ttvis-stage" });
    this.canvas = h("canvas", { class: "ttvis-canvas", tabindex: "0" });
    this.overlay = h("canvas", { class: "ttvis-overlay" });
    this.message = h("div", { class: "ttvis-message" }, "loading…");
    this.stage.append(this.canvas, this.overlay, this.message);
    this.side = h("div", { class: "ttvis-side" });
    this.root.append(h("div", { class: "ttvis-main" }, this.stage, this.side));
    el.append(this.root);

    this.controls = new Controls(this.root, {
      step: (d) => this.step(d),
      togglePlay: () => this.setPlaying(!this.playing, true),
      scrub: (v, final) => this.scrub(v, final),
      scrubStart: () => { this.scrubbing = true; this.setPlaying(false, true); },
      set: (k, v) => { this.model.set(k, v); this.model.save_changes(); },
      filter: (k, v) => this.setFilter(k, v),
      marks: () => { this.metaKey = ""; this.requestRender(); },
      lassoMode: () => { this.lassoMode = !this.lassoMode; this.canvas.classList.toggle("ttvis-lassoing", this.lassoMode); this.syncControls(); },
      fit: () => this.fit(),
      find: (i) => this.focus(i),
      clearSelection: () => this.setSelection([]),
    });
    this.legend = new Legend(this.side, {
      onToggle: (c) => this.toggleClass(c),
      onOnly: (c) => this.setFilter(this.filterKey(), [c]),
      onAll: () => this.setFilter(this.filterKey(), null),
    });
    this.side.append(h("div", { class: "ttvis-legend-note" },
      "drag: pan · wheel: zoom · click: select · shift-click: add · shift-drag: lasso · dbl-click: fit"));
    this.tooltip = new Tooltip(this.stage, this.cache);
    this.lasso = new LassoOverlay(this.overlay);
    this.applyInfo();
    this.installHook();

    const gl = createContext(this.canvas);
    if (!gl) {
      this.fail("WebGL2 is not available in this browser, so the plot cannot be drawn. "
        + "Enable hardware acceleration (or WebGL) in the browser settings, or use a recent Chrome, Firefox or Safari.");
    } else {
      try {
        this.gl = gl;
        this.renderer = new Renderer(gl);
        this.applyPalette();
      } catch (e) {
        this.fail(`Could not start the WebGL2 renderer: ${e.message}`);
      }
    }

    this.bindModel();
    this.bindPointer();
    this.observeSize();
    this.onContextLost = (ev) => {
      ev.preventDefault();
      if (!this.destroyed) this.fail("The WebGL context was lost (too many plots open, or the GPU was reset). Re-run the cell to draw again.");
    };
    this.canvas.addEventListener("webglcontextlost", this.onContextLost);
    if (this.renderer) model.send({ type: "request", rid: this.rid });
    this.setPlaying(!!model.get("playing"), false);
    this.syncControls();
  }

  // ---- model wiring ----------------------------------------------------------------------------
  on(name, fn) {
    this.model.on(name, fn);
    this.disposers.push(() => this.model.off(name, fn));
  }

  bindModel() {
    const m = this.model;
    this.on("msg:custom", (msg, buffers) => this.onMessage(msg, buffers || []));
    this.on("change:time", () => {
      const v = m.get("time");
      if (this.scrubbing || Math.abs(v - this.t) < 1e-9) return;
      this.t = v;
      this.afterTimeChange();
    });
    this.on("change:epoch", () => {
      const eps = this.info.epochs || [];
      const k = eps.indexOf(m.get("epoch"));
      if (k >= 0 && Math.round(this.t) !== k && !this.scrubbing && !this.playing) {
        this.t = k;
        this.afterTimeChange();
      }
    });
    this.on("change:selection", () => {
      this.selection = new Set(m.get("selection") || []);
      this.selectionChanged(false);
    });
    this.on("change:playing", () => this.setPlaying(!!m.get("playing"), false));
    for (const k of ["color_by", "filters", "point_size", "show_territory", "speed"]) {
      this.on(`change:${k}`, () => { this.metaKey = ""; this.syncControls(); this.requestRender(); });
    }
    this.on("change:info", () => { this.applyInfo(); this.applyPalette(); });
    this.on("change:status", () => this.updateStatus());
    this.on("change:hovered", () => {
      const v = m.get("hovered");
      if (v !== this.hovered && !this.mouse) { this.hovered = v; this.requestRender(); }
    });
  }

  get info() {
    return this.model.get("info") || {};
  }

  applyInfo() {
    const info = this.info;
    this.controls.setInfo(info);
    this.legend.setClasses(info.classes || [], info.colors || []);
    this.updateStatus();
  }

  applyPalette() {
    if (!this.renderer) return;
    const cols = (this.info.colors || []).map(hexToRgb).flat();
    this.renderer.setPalette(new Uint8Array(cols.length ? cols : [128, 128, 128]));
    this.requestRender();
  }

  onMessage(c, buffers) {
    if (!c || typeof c !== "object") return;
    if (c.type === "sample") {
      this.cache.receive(c, buffers);
      return;
    }
    if (c.type === "focus") {
      this.focus(c.index);
      return;
    }
    if (c.rid !== this.rid || this.error) return;
    try {
      if (c.type === "meta") {
        this.store.setMeta(c, buffers);
        this.renderer.allocate(this.store.n, this.store.nEpochs);
        this.hidden = new Uint8Array(this.store.n);
        this.meta = new Uint16Array(this.store.n * 4);
        this.selectionChanged(false);
        if (!this.camera.touched) this.camera.fit(this.store.bounds);
      } else if (c.type === "chunk") {
        for (const p of this.store.addChunk(c, buffers)) this.renderer.uploadPositions(p.e, p.s0, p.data);
        this.version++;
        this.metaKey = "";
        if (this.store.epochsLoaded === this.store.nEpochs && this.timings.allEpochsMs === null) {
          this.timings.allEpochsMs = performance.now() - this.createdAt;  // every epoch's positions on the GPU
        }
      } else if (c.type === "territory") {
        this.store.addTerritories(c, buffers);
      } else if (c.type === "done") {
        this.store.done = true;
      }
    } catch (e) {
      this.fail(`Could not load the data: ${e.message}`);
      return;
    }
    this.updateStatus();
    this.requestRender();
  }

  updateStatus() {
    const s = this.store;
    let txt = this.model.get("status") || "";
    if (s.meta && !s.done) txt = `loading epochs ${s.epochsLoaded}/${s.nEpochs}…`;
    else if (s.meta) {
      const b = this.renderer?.bytes || 0;
      txt = txt || `${s.nEpochs} epochs on GPU (${b >= 1048576 ? (b / 1048576).toFixed(1) + " MB" : Math.ceil(b / 1024) + " KB"})`;
    }
    this.controls.setStatus(txt);
    if (this.error) return;
    if (s.meta && s.epochReady(0)) this.message.style.display = "none";
    else this.message.textContent = s.meta ? "loading the first epoch…" : "waiting for the kernel…";
  }

  fail(msg) {
    this.error = msg;
    this.message.textContent = msg;
    this.message.classList.add("ttvis-error");
    this.message.style.display = "flex";
  }

  // ---- time ------------------------------------------------------------------------------------
  get nEpochs() {
    return (this.info.epochs || []).length || this.store.nEpochs || 1;
  }

  /** Largest epoch index k such that epochs 0..k are all loaded (chunks arrive in order). */
  get maxLoaded() {
    const s = this.store;
    if (!s.meta) return -1;
    let k = -1;
    while (k + 1 < s.nEpochs && s.epochReady(k + 1)) k++;
    return k;
  }

  displayTime() {
    const t = Math.min(Math.max(this.t, 0), this.nEpochs - 1);
    return Math.min(t, Math.max(0, this.maxLoaded));
  }

  epochAt(t) {
    const eps = this.info.epochs || [];
    return eps[Math.min(eps.length - 1, Math.max(0, Math.round(t)))];
  }

  scrub(v, final) {
    this.scrubbing = !final;
    this.t = v;
    this.afterTimeChange();
    this.pushTime(final);
  }

  step(d) {
    this.setPlaying(false, true);
    const k = Math.min(this.nEpochs - 1, Math.max(0, (d > 0 ? Math.floor(this.t + 1e-6) : Math.ceil(this.t - 1e-6)) + d));
    this.t = k;
    this.afterTimeChange();
    this.pushTime(true);
  }

  afterTimeChange() {
    this.syncControls();
    this.requestRender();
  }

  /** Send time/epoch to the kernel: throttled while scrubbing/playing, immediate when final. */
  pushTime(final) {
    const send = () => {
      this.syncTimer = 0;
      this.lastSync = performance.now();
      const t = Math.round(this.t * 1e4) / 1e4;
      this.model.set("time", t);
      this.model.set("epoch", this.epochAt(t));
      this.model.save_changes();
    };
    if (final) {
      clearTimeout(this.syncTimer);
      send();
    } else if (!this.syncTimer) {
      this.syncTimer = setTimeout(send, Math.max(0, SYNC_MS - (performance.now() - this.lastSync)));
    }
  }

  setPlaying(on, push) {
    if (on && this.t >= this.nEpochs - 1 - 1e-6) this.t = 0;
    const was = this.playing;
    this.playing = on;
    this.lastTick = performance.now();
    if (push && this.model.get("playing") !== on) {
      this.model.set("playing", on);
      this.model.save_changes();
    }
    if (was && !on) this.pushTime(true);
    this.syncControls();
    this.requestRender();
  }

  syncControls() {
    const m = this.model;
    this.controls.sync({
      t: this.t, epoch: this.epochAt(this.t), playing: this.playing, scrubbing: this.scrubbing,
      speed: m.get("speed"), colorBy: m.get("color_by"), showTerritory: m.get("show_territory"),
      pointSize: m.get("point_size"), filters: m.get("filters") || {}, hasPred: this.store.meta ? this.store.hasPred : true,
      lassoMode: this.lassoMode, nSelected: this.selection.size,
    });
  }

  // ---- filters, selection, per-point metadata ----------------------------------------------------
  filterKey() {
    return this.model.get("color_by") === "prediction" ? "predictions" : "labels";
  }

  setFilter(key, value) {
    const f = { labels: null, predictions: null, split: "all", correctness: "all", ...(this.model.get("filters") || {}) };
    f[key] = value;
    this.model.set("filters", f);
    this.model.save_changes();
  }

  toggleClass(c) {
    const key = this.filterKey();
    const n = (this.info.classes || []).length;
    const cur = (this.model.get("filters") || {})[key];
    const allowed = new Set(cur ?? [...Array(n).keys()]);
    if (allowed.has(c)) allowed.delete(c); else allowed.add(c);
    this.setFilter(key, allowed.size === n ? null : [...allowed].sort((a, b) => a - b));
  }

  setSelection(arr) {
    this.selection = new Set(arr);
    this.selectionChanged(true);
  }

  selectionChanged(push) {
    if (this.renderer && this.store.meta) {
      const n = this.store.n;
      const idx = Uint32Array.from([...this.selection].filter((i) => i >= 0 && i < n));
      this.renderer.uploadSelection(idx);
    }
    if (push) {
      this.model.set("selection", [...this.selection].sort((a, b) => a - b));
      this.model.save_changes();
    }
    this.metaKey = "";
    this.syncControls();
    this.requestRender();
  }

  /** Rebuild flags/colours for the epoch nearest to the displayed time (O(N), only when something changed). */
  updateMeta(ke) {
    const s = this.store;
    const m = this.model;
    const f = m.get("filters") || {};
    const colorBy = m.get("color_by");
    const key = `${ke}:${this.version}:${JSON.stringify(f)}:${colorBy}:${this.selection.size}:${this.controls.marks}`;
    if (key === this.metaKey) return;
    this.metaKey = key;
    const n = s.n, NO = s.noClass;
    const pred = s.hasPred ? s.pred[ke] : null;
    const prev = s.hasPred && ke > 0 ? s.pred[ke - 1] || pred : pred;
    const conf = s.hasPred ? s.conf[ke] : null;
    const labels = s.labels, split = s.split;
    const labAllowed = f.labels ? new Set(f.labels) : null;
    const predAllowed = f.predictions && pred ? new Set(f.predictions) : null;
    const splitWant = f.split === "train" ? 0 : f.split === "test" ? 1 : -1;
    const corr = pred ? f.correctness || "all" : "all";
    const sel = this.selection;
    const meta = this.meta, hidden = this.hidden;
    const nc = (this.info.classes || []).length;
    const counts = new Uint32Array(Math.max(nc, 1));
    for (let i = 0; i < n; i++) {
      const lab = labels[i];
      const p = pred ? pred[i] : NO;
      const wrong = pred && lab !== NO && p !== lab;
      let hide = (splitWant >= 0 && split[i] !== splitWant)
        || (labAllowed && !labAllowed.has(lab))
        || (predAllowed && !predAllowed.has(p))
        || (corr === "correct" && (wrong || lab === NO))
        || (corr === "incorrect" && !wrong);
      let flags = hide ? HIDDEN : 0;
      if (sel.has(i)) flags |= SELECTED;
      if (wrong) flags |= WRONG;
      if (pred && ke > 0 && prev[i] !== p) flags |= FLIP;
      if (!conf) flags |= NOCONF;
      hidden[i] = hide ? 1 : 0;
      meta[4 * i] = lab;
      meta[4 * i + 1] = p;
      meta[4 * i + 2] = prev ? prev[i] : NO;
      meta[4 * i + 3] = flags | ((conf ? conf[i] : 255) << 8);
      if (!hide) {
        const c = colorBy === "prediction" ? p : lab;
        if (c < counts.length) counts[c]++;
      }
    }
    this.renderer.uploadMeta(meta);
    const allowed = colorBy === "prediction" ? f.predictions : f.labels;
    this.legend.update(colorBy, allowed ? new Set(allowed) : null, counts);
    if (this.hovered >= 0 && this.mouse) this.showTooltip(this.hovered, this.mouse[0], this.mouse[1]);
  }

  // ---- frame loop --------------------------------------------------------------------------------
  requestRender() {
    if (!this.raf && !this.destroyed) this.raf = requestAnimationFrame((ts) => this.frame(ts));
  }

  frame(ts) {
    this.raf = 0;
    if (this.destroyed || this.error || !this.renderer) return;
    const t0 = performance.now();
    if (this.lastTs) {
      this.frameIntervals.push(ts - this.lastTs);
      if (this.frameIntervals.length > 240) this.frameIntervals.shift();
    }
    this.lastTs = this.playing || this.scrubbing ? ts : 0;
    const E = this.nEpochs;
    if (this.playing) {
      const now = performance.now();
      const dt = Math.min(0.25, (now - (this.lastTick || now)) / 1000);
      this.lastTick = now;
      if (this.maxLoaded >= Math.min(E - 1, Math.ceil(this.t + 1e-9))) this.t += dt * (this.model.get("speed") || 1);
      if (this.t >= E - 1) {
        this.t = E - 1;
        this.setPlaying(false, true);
      }
      this.syncControls();
      this.pushTime(false);
    }
    const s = this.store;
    if (!s.meta || !s.epochReady(0)) return;
    const td = this.displayTime();
    const e0 = Math.floor(td), e1 = Math.min(e0 + 1, Math.max(0, this.maxLoaded));
    const frac = e1 === e0 ? 0 : td - e0;
    const ke = Math.round(td);
    this.updateMeta(ke);
    if (this.playing && this.mouse && t0 - (this.lastRepick || 0) > 100) {
      this.lastRepick = t0;
      this.hoverAt(this.mouse[0], this.mouse[1]);
    }
    let terr = null;
    if (this.model.get("show_territory") && s.territory.some((x) => x)) {
      const want = [e0, e1];
      if (this.playing && e1 + 1 < E) want.push(e1 + 1);
      for (const k of want) this.ensureTerritory(k, [e0, e1]);
      const r = this.renderer;
      const k0 = r.hasTerritory(e0) ? e0 : r.hasTerritory(e1) ? e1 : this.nearestTerritory(e0);
      const k1 = r.hasTerritory(e1) ? e1 : k0;
      if (k0 >= 0) terr = { k0, k1, frac, opacity: 0.6 };
    }
    this.dpr = window.devicePixelRatio || 1;
    this.pointsDrawn = this.renderer.draw({
      width: this.canvas.width, height: this.canvas.height, dpr: this.dpr, e0, e1, frac,
      bounds: s.bounds, center: [this.camera.cx, this.camera.cy], k: this.camera.k,
      pointSize: this.model.get("point_size") || 4, colorBy: this.model.get("color_by") === "prediction" ? 1 : 0,
      hasSel: this.selection.size > 0, hovered: this.hovered, marks: this.controls.marks, territory: terr,
    });
    this.drawnTime = td;
    this.frames++;
    if (!this.firstFrame) this.timings.firstFrameMs = performance.now() - this.createdAt;
    this.firstFrame = true;
    this.lastFrameMs = performance.now() - t0;
    if (this.playing) this.requestRender();
  }

  nearestTerritory(k) {
    let best = -1;
    for (const j of this.renderer.terr.keys()) if (best < 0 || Math.abs(j - k) < Math.abs(best - k)) best = j;
    return best;
  }

  ensureTerritory(k, pinned) {
    const blob = this.store.territory[k];
    if (!blob || this.renderer.hasTerritory(k) || this.decoding.has(k)) return;
    this.decoding.add(k);
    createImageBitmap(blob).then((bm) => {
      this.decoding.delete(k);
      if (this.destroyed || !this.renderer) return;
      this.renderer.setTerritory(k, bm, 12, pinned);
      if (bm.close) bm.close();
      this.requestRender();
    }).catch(() => this.decoding.delete(k));
  }

  // ---- camera and sizing -----------------------------------------------------------------------------
  observeSize() {
    const resize = () => {
      const w = this.stage.clientWidth, hgt = this.stage.clientHeight;
      if (!w || !hgt) return;
      const dpr = window.devicePixelRatio || 1;
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(hgt * dpr);
      this.lasso.resize(w, hgt, dpr);
      this.camera.resize(w, hgt);
      if (!this.camera.touched && this.store.meta) this.camera.fit(this.store.bounds);
      this.picker.invalidate();
      this.requestRender();
    };
    this.ro = new ResizeObserver(resize);
    this.ro.observe(this.stage);
    const mq = () => {
      const q = window.matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
      const fn = () => { resize(); mq(); };
      q.addEventListener("change", fn, { once: true });
      this.disposers.push(() => q.removeEventListener("change", fn));
    };
    mq();
    resize();
  }

  fit() {
    if (this.store.meta) this.camera.fit(this.store.bounds);
    this.requestRender();
  }

  positionOf(i) {
    const s = this.store;
    if (!s.meta || !s.epochReady(0) || i < 0 || i >= s.n) return null;
    const td = this.displayTime();
    const e0 = Math.floor(td), e1 = Math.min(e0 + 1, Math.max(0, this.maxLoaded));
    return s.positionAt(i, e0, e1, e1 === e0 ? 0 : td - e0);
  }

  focus(i) {
    const p = this.positionOf(i);
    if (!p) return;
    const [xmin, ymin, xmax, ymax] = this.store.bounds;
    const fitK = Math.min(this.camera.w / (xmax - xmin || 1), this.camera.h / (ymax - ymin || 1));
    this.camera.centerOn(p[0], p[1], Math.max(this.camera.k, fitK * 3));
    this.hovered = i;
    this.focused = i;
    const [lx, ly] = this.camera.toLocal(p[0], p[1]);
    this.showTooltip(i, lx, ly);
    this.requestRender();
  }

  // ---- pointer interaction -------------------------------------------------------------------------
  local(ev) {
    const r = this.canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  currentXY() {
    const td = this.displayTime();
    const e0 = Math.floor(td), e1 = Math.min(e0 + 1, Math.max(0, this.maxLoaded));
    return this.picker.positions(e0, e1, e1 === e0 ? 0 : td - e0, this.version);
  }

  pick(lx, ly) {
    const s = this.store;
    if (!s.meta || !s.epochReady(0)) return -1;
    const [x, y] = this.camera.toData(lx, ly);
    const rpx = Math.max(6, (this.model.get("point_size") || 4) * 0.75 + 2);
    return this.picker.nearest(this.currentXY(), this.hidden, x, y, rpx / this.camera.k);
  }

  hoverAt(lx, ly) {
    const i = this.pick(lx, ly);
    if (i !== this.hovered) {
      this.hovered = i;
      this.focused = -1;
      this.pushHovered();
      this.requestRender();
    }
    if (i >= 0) this.showTooltip(i, lx, ly);
    else this.tooltip.hide();
  }

  pushHovered() {
    if (this.hoverTimer) return;
    this.hoverTimer = setTimeout(() => {
      this.hoverTimer = 0;
      if (this.destroyed) return;
      this.model.set("hovered", this.hovered);
      this.model.save_changes();
    }, 100);
  }

  showTooltip(i, lx, ly) {
    const s = this.store;
    const info = this.info;
    const names = info.classes || [];
    const nm = (c) => (c === s.noClass ? null : names[c] ?? String(c));
    const ke = Math.round(this.displayTime());
    const lab = s.labels[i];
    const p = s.hasPred && s.pred[ke] ? s.pred[ke][i] : s.noClass;
    const prev = s.hasPred && ke > 0 && s.pred[ke - 1] ? s.pred[ke - 1][i] : p;
    this.tooltip.show({
      index: i, split: s.split[i] === 1 ? "test" : "train", media: info.media,
      label: nm(lab), pred: nm(p), conf: s.hasPred && s.conf[ke] ? s.conf[ke][i] / 255 : null,
      wrong: p !== s.noClass && lab !== s.noClass && p !== lab, flipped: prev !== p, prev: nm(prev),
    }, lx, ly, this.camera.w, this.camera.h);
  }

  bindPointer() {
    const c = this.canvas;
    let drag = null;
    const listen = (target, type, fn, opts) => {
      target.addEventListener(type, fn, opts);
      this.disposers.push(() => target.removeEventListener(type, fn, opts));
    };
    listen(c, "pointerdown", (ev) => {
      if (ev.button !== 0) return;
      c.focus({ preventScroll: true });
      c.setPointerCapture(ev.pointerId);
      const [lx, ly] = this.local(ev);
      const lasso = this.lassoMode || ev.shiftKey;
      drag = { lx, ly, x0: lx, y0: ly, moved: false, lasso, shift: ev.shiftKey, add: ev.ctrlKey || ev.metaKey };
      if (lasso) this.lasso.start(lx, ly);
    });
    listen(c, "pointermove", (ev) => {
      const [lx, ly] = this.local(ev);
      this.mouse = [lx, ly];
      if (drag) {
        if (Math.hypot(lx - drag.x0, ly - drag.y0) > 3) drag.moved = true;
        if (drag.lasso) this.lasso.add(lx, ly);
        else if (drag.moved) {
          this.camera.pan(lx - drag.lx, ly - drag.ly);
          this.picker.invalidate();
          this.tooltip.hide();
          this.requestRender();
        }
        drag.lx = lx;
        drag.ly = ly;
        return;
      }
      this.hoverAt(lx, ly);
    });
    const end = (ev) => {
      if (!drag) return;
      const d = drag;
      drag = null;
      const [lx, ly] = this.local(ev);
      if (d.lasso) {
        const poly = this.lasso.finish();
        if (d.moved && poly.length >= 3) {
          const polyData = poly.map(([x, y]) => this.camera.toData(x, y));
          const inside = selectInPolygon(this.currentXY(), this.hidden, polyData);
          this.setSelection(d.add ? [...this.selection, ...inside] : inside);
          return;
        }
      }
      if (d.moved) return;
      const i = this.pick(lx, ly);
      if (i >= 0) {
        const next = new Set(d.shift || d.add ? this.selection : []);
        if (next.has(i) && (d.shift || d.add)) next.delete(i); else next.add(i);
        this.setSelection([...next]);
      } else if (!d.shift && !d.add && this.selection.size) {
        this.setSelection([]);
      }
    };
    listen(c, "pointerup", end);
    listen(c, "pointercancel", () => { drag = null; this.lasso.finish(); });
    listen(c, "pointerleave", () => {
      this.mouse = null;
      if (this.hovered >= 0 && this.focused !== this.hovered) {
        this.hovered = -1;
        this.pushHovered();
        this.tooltip.hide();
        this.requestRender();
      }
    });
    listen(c, "wheel", (ev) => {
      ev.preventDefault();
      const [lx, ly] = this.local(ev);
      const dy = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
      this.camera.zoomAt(lx, ly, Math.exp(-dy * 0.0015));
      this.picker.invalidate();
      this.tooltip.hide();
      this.requestRender();
    }, { passive: false });
    listen(c, "dblclick", () => this.fit());
    listen(c, "keydown", (ev) => {
      if (ev.key === " ") { this.setPlaying(!this.playing, true); ev.preventDefault(); }
      else if (ev.key === "ArrowRight") { this.step(1); ev.preventDefault(); }
      else if (ev.key === "ArrowLeft") { this.step(-1); ev.preventDefault(); }
      else if (ev.key === "Escape") this.setSelection([]);
      else if (ev.key === "f") this.fit();
      else return;
      ev.stopPropagation();
    });
  }

  // ---- test/debug hook -------------------------------------------------------------------------------
  installHook() {
    const v = this;
    const toClient = (x, y) => {
      const r = v.canvas.getBoundingClientRect();
      const [lx, ly] = v.camera.toLocal(x, y);
      return [r.left + lx, r.top + ly];
    };
    this.canvas.__ttvis = {
      get time() { return v.displayTime(); },
      get requestedTime() { return v.t; },
      get epoch() { return v.epochAt(v.displayTime()); },
      get ready() { return v.firstFrame && !v.error; },
      get error() { return v.error; },
      get webgl2() { return !!v.gl; },
      get epochsLoaded() { return v.store.epochsLoaded; },
      get nEpochs() { return v.store.nEpochs; },
      get n() { return v.store.n; },
      get done() { return !!v.store.done; },
      get lastFrameMs() { return v.lastFrameMs; },
      /** ms from this view's creation (the widget displayed) to its first frame / to all epochs resident */
      get timings() { return { ...v.timings }; },
      get frames() { return v.frames; },
      get frameIntervals() { return v.frameIntervals.slice(); },
      get playing() { return v.playing; },
      get hovered() { return v.hovered; },
      get selection() { return [...v.selection].sort((a, b) => a - b); },
      get pointsDrawn() { return v.pointsDrawn; },
      get territoriesLoaded() { return v.store.territory ? v.store.territory.filter((x) => x).length : 0; },
      get camera() { return { cx: v.camera.cx, cy: v.camera.cy, k: v.camera.k, w: v.camera.w, h: v.camera.h }; },
      get bounds() { return v.store.bounds; },
      dataToClient: toClient,
      clientToData(cx, cy) {
        const r = v.canvas.getBoundingClientRect();
        return v.camera.toData(cx - r.left, cy - r.top);
      },
      positionOf: (i) => v.positionOf(i),
      clientOf(i) { const p = v.positionOf(i); return p ? toClient(p[0], p[1]) : null; },
      isVisible: (i) => !!(v.hidden && !v.hidden[i]),
    };
  }

  destroy() {
    this.destroyed = true;
    if (this.raf) cancelAnimationFrame(this.raf);
    clearTimeout(this.syncTimer);
    clearTimeout(this.hoverTimer);
    if (this.ro) this.ro.disconnect();
    for (const d of this.disposers) d();
    this.disposers = [];
    this.canvas.removeEventListener("webglcontextlost", this.onContextLost);
    if (this.renderer) this.renderer.dispose();
    this.renderer = null;
    this.gl = null;
    this.canvas.__ttvis = { ready: false, destroyed: true, time: 0, epochsLoaded: 0, lastFrameMs: 0, dataToClient: () => [NaN, NaN] };
    this.root.remove();
  }
}
