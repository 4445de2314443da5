// Lasso selection: a polygon drawn on an overlay canvas (client px), tested against the current positions.

export function pointInPolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Indices of visible points (xy: Float32Array data coords) inside the polygon given in data coords. */
export function selectInPolygon(xy, hidden, polyData) {
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (const [x, y] of polyData) {
    xmin = Math.min(xmin, x); xmax = Math.max(xmax, x);
    ymin = Math.min(ymin, y); ymax = Math.max(ymax, y);
  }
  const out = [];
  const n = xy.length / 2;
  for (let i = 0; i < n; i++) {
    if (hidden[i]) continue;
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (x < xmin || x > xmax || y < ymin || y > ymax) continue;
    if (pointInPolygon(x, y, polyData)) out.push(i);
  }
  return out;
}

export class LassoOverlay {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.points = [];
  }

  resize(w, h, dpr) {
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.dpr = dpr;
  }

  start(lx, ly) {
    this.points = [[lx, ly]];
    this.draw();
  }

  add(lx, ly) {
    const last = this.points[this.points.length - 1];
    if (last && Math.hypot(lx - last[0], ly - last[1]) < 2) return;
    this.points.push([lx, ly]);
    this.draw();
  }

  finish() {
    const p = this.points;
    this.points = [];
    this.draw();
    return p;
  }

  draw() {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (this.points.length < 2) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.beginPath();
    ctx.moveTo(...this.points[0]);
    for (const p of this.points.slice(1)) ctx.lineTo(...p);
    ctx.closePath();
    ctx.fillStyle = "rgba(30, 30, 30, 0.08)";
    ctx.fill();
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = "#222";
    ctx.lineWidth = 1.2;
    ctx.stroke();
  }
}
