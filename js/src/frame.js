// The frame loop: one requestAnimationFrame at a time; each frame advances playback, refreshes the
// per-point flags when their inputs changed, picks the territory pair and draws; keeps the frame stats.
import { computeFlags } from "./flags.js";
import { territoryStyle } from "./territories.js";
import { layerOf } from "./stream.js";

const REPICK_MS = 100;  // while playing, the point under a still mouse is re-picked this often

export class FrameLoop {
  /**
   * view: the TimeTravelView (reads its store, timeline, sync, renderer, camera, canvas, controls,
   * territories, interaction, panels, selection and hovered; calls setPlaying and syncControls).
   */
  constructor(view) {
    this.v = view;
    this.raf = 0;
    this.frames = 0;
    this.lastFrameMs = 0;
    this.frameIntervals = [];  // ms between frames while playing or scrubbing (the last 240)
    this.lastTs = 0;
    this.firstFrameMs = null;  // ms from the view's creation to its first frame
    this.pointsDrawn = 0;
    this.stalls = 0;  // windowed views: frames that could not show the requested time (stream.js)
    this.standIns = 0;  // windowed views: exported frames drawn from a stand-in epoch (capture.js)
    this.loading = null;  // the requested epoch a stand-in frame waits for (shown in the view), or null
    this.dpr = null;     // a pixel ratio that overrides the screen's (exports draw at their own scale)
    this.territoryOverride = null;  // {territory_opacity?, territory_extent?}: an export's own territory style
    this.flagsKey = "";
    this.lastRepick = 0;
    this.drawn = { time: NaN, k: -1 };
    this.meta = null;    // Uint16Array [4n]: the per-point attribute (flags.js)
    this.hidden = null;  // Uint8Array [n]: 1 where filtered out (picking and lasso skip these)
    this.counts = null;  // visible points per class at the shown epoch
  }

  /** Per-point arrays for n samples (on the stream's meta message). */
  allocate(n) {
    this.hidden = new Uint8Array(n);
    this.meta = new Uint16Array(n * 4);
    this.invalidateFlags();
  }

  get ready() {
    return this.firstFrameMs !== null;
  }

  request() {
    if (!this.raf && !this.v.destroyed) this.raf = requestAnimationFrame((ts) => this.frame(ts));
  }

  invalidateFlags() {
    this.flagsKey = "";
  }

  frame(ts) {
    this.raf = 0;
    const v = this.v, tl = v.timeline;
    if (v.destroyed || v.error || !v.renderer) return;
    const t0 = performance.now();
    if (this.lastTs) {
      this.frameIntervals.push(ts - this.lastTs);
      if (this.frameIntervals.length > 240) this.frameIntervals.shift();
    }
    this.lastTs = tl.playing || tl.scrubbing ? ts : 0;
    if (tl.playing) {
      if (tl.advance(performance.now(), v.sync.get("speed") || 1)) v.setPlaying(false, true);
      v.syncControls();
      v.sync.pushTime(false);
    }
    const s = v.store;
    if (!s.meta || !s.anyReady()) return;
    if (this.firstFrameMs === null) v.feed.mark("firstFrameStart");
    const ft = tl.frameTime();
    if (s.window) {
      v.feed.follow(tl.t);
      if (ft.stalled && (tl.playing || tl.scrubbing)) this.stalls++;
    }
    this.showLoading(ft.stalled ? tl.epochAt(tl.t) : null, ft);
    this.updateFlags(ft.k);
    const mouse = v.interaction.mouse;
    if (tl.playing && mouse && t0 - this.lastRepick > REPICK_MS) {
      this.lastRepick = t0;
      v.interaction.hoverAt(mouse[0], mouse[1]);
    }
    let territory = null;
    if (v.sync.get("show_territory") && v.territories.available) {
      territory = v.territories.pick(ft.e0, ft.e1, ft.frac, tl.playing);
      if (territory) Object.assign(territory, territoryStyle(v.sync, this.territoryOverride));
    }
    const cam = v.camera;
    if (this.firstFrameMs === null) v.feed.mark("firstDrawCall");
    this.pointsDrawn = v.renderer.draw({
      width: v.canvas.width, height: v.canvas.height, dpr: this.dpr || window.devicePixelRatio || 1,
      e0: layerOf(s, ft.e0), e1: layerOf(s, ft.e1), frac: ft.frac, bounds: s.bounds, center: [cam.cx, cam.cy], k: cam.k,
      pointSize: v.sync.get("point_size") || 4, colorBy: v.sync.get("color_by") === "prediction" ? 1 : 0,
      hasSel: v.selection.size > 0, hovered: v.hovered, marks: v.controls.marks, territory,
      dim: v.debug.dim, layers: v.debug.layers(ft),
    });
    v.debug.afterDraw(ft);
    this.frames++;
    if (this.firstFrameMs === null) {
      this.firstFrameMs = performance.now() - v.feed.createdAt;
      v.feed.drawn();
    }
    this.lastFrameMs = performance.now() - t0;
    if (ft.time !== this.drawn.time) {
      const newEpoch = ft.k !== this.drawn.k;
      this.drawn = { time: ft.time, k: ft.k };
      v.panels.notify("time");
      if (newEpoch) v.panels.notify("epoch");
    }
    if (tl.playing) this.request();
  }

  /** Mark the frame as a stand-in (`epoch`: the requested epoch, not held yet) or clear the mark (null). */
  showLoading(epoch, ft) {
    const text = epoch === null ? "" : `epoch ${epoch} loading… showing epoch ${this.v.timeline.epochAt(ft.time)}`;
    this.loading = epoch;
    const b = this.v.loadingBadge;
    if (b.textContent === text) return;
    b.textContent = text;
    b.style.display = epoch === null ? "none" : "";
  }

  /** Recompute flags/metadata for epoch index k when an input changed (O(N)); tell the panels. */
  updateFlags(k) {
    const v = this.v, s = v.store;
    const filters = v.sync.get("filters") || {};
    const colorBy = v.sync.get("color_by");
    const key = `${k}:${v.feed.version}:${JSON.stringify(filters)}:${colorBy}:${v.selection.size}:${v.controls.marks}`;
    if (key === this.flagsKey) return;
    this.flagsKey = key;
    const pred = s.hasPred ? s.pred[k] : null;
    const prev = s.hasPred && k > 0 ? s.pred[k - 1] || pred : pred;
    this.counts = computeFlags({
      n: s.n, noClass: s.noClass, labels: s.labels, split: s.split, pred, prev,
      conf: s.hasPred ? s.conf[k] : null, flips: k > 0, filters, selection: v.selection, colorBy,
      nClasses: (v.info.classes || []).length,
    }, this.meta, this.hidden);
    v.renderer.uploadMeta(this.meta);
    v.panels.notify("flags");
    const mouse = v.interaction.mouse;
    if (v.hovered >= 0 && mouse) v.interaction.showTooltip(v.hovered, mouse[0], mouse[1]);
  }

  dispose() {
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
  }
}
