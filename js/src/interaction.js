// Pointer, lasso and keyboard input on the plot: pan, zoom, hover (picking + tooltip), click and lasso
// selection, keyboard shortcuts. Changes go through the view's actions; nothing here talks to the model.
import { selectInPolygon } from "./lasso.js";

const HOVER_RADIUS_MIN_PX = 6;

export class Interaction {
  /**
   * view: the TimeTravelView (reads store, camera, picker, timeline, loop.hidden, selection, hovered,
   * canvas, lasso, tooltip, info; calls its actions: setSelection, setHovered, setPlaying, step, fit).
   */
  constructor(view) {
    this.v = view;
    this.mouse = null;    // last pointer position over the canvas (canvas-local CSS px) or null
    this.lassoMode = false;
    this.focused = -1;    // sample shown by find()/focus: kept highlighted when the pointer leaves
    this.disposers = [];
    this.bind();
  }

  local(ev) {
    const r = this.v.canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  /** Positions of all samples at the displayed time (Float32Array [2n], data units). */
  currentXY() {
    const v = this.v;
    const ft = v.timeline.frameTime();
    return v.picker.positions(ft.e0, ft.e1, ft.frac, v.feed.version);
  }

  /** Nearest visible sample to canvas-local (lx, ly) within a few pixels, or -1. */
  pick(lx, ly) {
    const v = this.v, s = v.store;
    if (!s.meta || !s.anyReady()) return -1;
    const [x, y] = v.camera.toData(lx, ly);
    const rpx = Math.max(HOVER_RADIUS_MIN_PX, (v.sync.get("point_size") || 4) * 0.75 + 2);
    return v.picker.nearest(this.currentXY(), v.loop.hidden, x, y, rpx / v.camera.k);
  }

  hoverAt(lx, ly) {
    const i = this.pick(lx, ly);
    if (i !== this.v.hovered) {
      this.focused = -1;
      this.v.setHovered(i, true);
    }
    if (i >= 0) this.showTooltip(i, lx, ly);
    else this.v.tooltip.hide();
  }

  /** Tooltip of sample i at canvas-local (lx, ly): label, prediction and confidence at the shown epoch. */
  showTooltip(i, lx, ly) {
    const v = this.v, s = v.store;
    const names = v.info.classes || [];
    const nm = (c) => (c === s.noClass ? null : names[c] ?? String(c));
    const k = v.timeline.frameTime().k;
    const lab = s.labels[i];
    const p = s.hasPred && s.pred[k] ? s.pred[k][i] : s.noClass;
    const prev = s.hasPred && k > 0 && s.pred[k - 1] ? s.pred[k - 1][i] : p;
    v.tooltip.show({
      index: i, split: s.split[i] === 1 ? "test" : "train", media: v.info.media,
      label: nm(lab), pred: nm(p), conf: s.hasPred && s.conf[k] ? s.conf[k][i] / 255 : null,
      wrong: p !== s.noClass && lab !== s.noClass && p !== lab, flipped: prev !== p, prev: nm(prev),
    }, lx, ly, v.camera.w, v.camera.h);
  }

  toggleLasso() {
    this.lassoMode = !this.lassoMode;
    this.v.canvas.classList.toggle("ttvis-lassoing", this.lassoMode);
  }

  /** The camera moved: cached screen-dependent state is stale. */
  moved() {
    const v = this.v;
    v.picker.invalidate();
    v.tooltip.hide();
    v.requestRender();
  }

  listen(target, type, fn, opts) {
    target.addEventListener(type, fn, opts);
    this.disposers.push(() => target.removeEventListener(type, fn, opts));
  }

  bind() {
    const v = this.v, c = v.canvas;
    let drag = null;
    this.listen(c, "pointerdown", (ev) => {
      if (ev.button !== 0) return;
      c.focus({ preventScroll: true });
      c.setPointerCapture(ev.pointerId);
      const [lx, ly] = this.local(ev);
      const lasso = this.lassoMode || ev.shiftKey;
      drag = { lx, ly, x0: lx, y0: ly, moved: false, lasso, shift: ev.shiftKey, add: ev.ctrlKey || ev.metaKey };
      if (lasso) v.lasso.start(lx, ly);
    });
    this.listen(c, "pointermove", (ev) => {
      const [lx, ly] = this.local(ev);
      this.mouse = [lx, ly];
      if (!drag) {
        this.hoverAt(lx, ly);
        return;
      }
      if (Math.hypot(lx - drag.x0, ly - drag.y0) > 3) drag.moved = true;
      if (drag.lasso) v.lasso.add(lx, ly);
      else if (drag.moved) {
        v.camera.pan(lx - drag.lx, ly - drag.ly);
        this.moved();
      }
      drag.lx = lx;
      drag.ly = ly;
    });
    this.listen(c, "pointerup", (ev) => {
      if (!drag) return;
      const d = drag;
      drag = null;
      this.release(d, ...this.local(ev));
    });
    this.listen(c, "pointercancel", () => { drag = null; v.lasso.finish(); });
    this.listen(c, "pointerleave", () => {
      this.mouse = null;
      if (v.hovered >= 0 && this.focused !== v.hovered) {
        v.setHovered(-1, true);
        v.tooltip.hide();
      }
    });
    this.listen(c, "wheel", (ev) => {
      ev.preventDefault();
      const [lx, ly] = this.local(ev);
      const dy = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
      v.camera.zoomAt(lx, ly, Math.exp(-dy * 0.0015));
      this.moved();
    }, { passive: false });
    this.listen(c, "dblclick", () => v.fit());
    this.listen(c, "keydown", (ev) => {
      if (ev.key === " ") { v.setPlaying(!v.timeline.playing, true); ev.preventDefault(); }
      else if (ev.key === "ArrowRight") { v.step(1); ev.preventDefault(); }
      else if (ev.key === "ArrowLeft") { v.step(-1); ev.preventDefault(); }
      else if (ev.key === "Escape") v.setSelection([]);
      else if (ev.key === "f") v.fit();
      else return;
      ev.stopPropagation();
    });
  }

  /** End of a press: a lasso selects what it encloses; a click (no drag) selects or toggles a point. */
  release(d, lx, ly) {
    const v = this.v;
    if (d.lasso) {
      const poly = v.lasso.finish();
      if (d.moved && poly.length >= 3) {
        const polyData = poly.map(([x, y]) => v.camera.toData(x, y));
        const inside = selectInPolygon(this.currentXY(), v.loop.hidden, polyData);
        v.setSelection(d.add ? [...v.selection, ...inside] : inside);
        return;
      }
    }
    if (d.moved) return;
    const i = this.pick(lx, ly);
    if (i >= 0) {
      const next = new Set(d.shift || d.add ? v.selection : []);
      if (next.has(i) && (d.shift || d.add)) next.delete(i); else next.add(i);
      v.setSelection([...next]);
    } else if (!d.shift && !d.add && v.selection.size) {
      v.setSelection([]);
    }
  }

  dispose() {
    for (const d of this.disposers) d();
    this.disposers = [];
  }
}
