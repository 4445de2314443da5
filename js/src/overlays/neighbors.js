// Neighbour lines: from one sample to its neighbours, on a 2-D canvas over the plot, redrawn every frame at
// the drawn (interpolated) positions. kept = neighbours in both spaces (solid green), gained = on-screen
// neighbours that are not neighbours in the model's space (dashed orange), lost = the model's neighbours
// the projection put elsewhere (dotted purple). The legend (panels/overlays.js) uses the same LINE_STYLES.

export const LINE_STYLES = Object.freeze({
  kept: { color: "#1a9850", dash: [], width: 2.2, alpha: 0.95, label: "kept", title: "neighbour in the model's space and on screen" },
  gained: { color: "#e66101", dash: [6, 4], width: 1.8, alpha: 0.95, label: "gained", title: "neighbour on screen only (not in the model's space)" },
  lost: { color: "#5e3c99", dash: [1.5, 3.5], width: 2.2, alpha: 0.85, label: "lost", title: "neighbour in the model's space that the projection put elsewhere" },
});

/** Draw order (lost first: the long ones go underneath) and the segments of a `neighbors` answer. Pure. */
export const LINE_ORDER = Object.freeze(["lost", "gained", "kept"]);

export function neighborSegments(nb) {
  if (!nb) return [];
  return LINE_ORDER.flatMap((kind) => (nb[kind] || []).map((to) => ({ kind, to })));
}

export class NeighborLines {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.drawn = 0;  // lines in the last frame (read by the test hook)
    this.dpr = 1;
  }

  resize(w, h, dpr) {
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.dpr = dpr;
    this.drawn = -1;  // resizing cleared it: draw again
  }

  /** No lines: the backing store is reset (setting its width) and the canvas hidden, since a full clearRect
   * alone was seen to leave the last lines on screen now and then (chromium, software GL). */
  clear() {
    if (this.drawn !== 0) {
      this.canvas.width = this.canvas.width;  // eslint-disable-line no-self-assign
      this.canvas.style.visibility = "hidden";
    }
    this.drawn = 0;
  }

  /** from: [x, y] canvas-local CSS px of the sample; segs: [{kind, to: [x, y]}] (see neighborSegments). */
  draw(from, segs) {
    const c = this.ctx;
    this.canvas.style.visibility = "visible";
    c.clearRect(0, 0, this.canvas.width, this.canvas.height);
    c.save();
    c.scale(this.dpr, this.dpr);
    c.lineCap = "round";
    for (const { kind, to } of segs) {
      const st = LINE_STYLES[kind];
      c.globalAlpha = st.alpha;
      c.strokeStyle = st.color;
      c.fillStyle = st.color;
      c.lineWidth = st.width;
      c.setLineDash(st.dash);
      c.beginPath();
      c.moveTo(from[0], from[1]);
      c.lineTo(to[0], to[1]);
      c.stroke();
      c.setLineDash([]);
      c.beginPath();
      c.arc(to[0], to[1], 2.6, 0, 2 * Math.PI);
      c.fill();
    }
    c.globalAlpha = 1;
    c.strokeStyle = "#111";
    c.lineWidth = 1.5;
    c.beginPath();
    c.arc(from[0], from[1], 6, 0, 2 * Math.PI);
    c.stroke();
    c.restore();
    this.drawn = segs.length;
  }
}
