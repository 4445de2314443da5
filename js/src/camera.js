// 2-D camera in CSS pixels: centre (data units) and k (CSS px per data unit), equal in x and y.
export class Camera {
  constructor() {
    this.cx = 0;
    this.cy = 0;
    this.k = 1;
    this.w = 1;
    this.h = 1;
    this.touched = false; // user panned/zoomed: keep the view on resize
  }

  resize(w, h) {
    this.w = Math.max(1, w);
    this.h = Math.max(1, h);
  }

  /** Fit the run's global bounds (fixed for all epochs, so the view is stable across time). */
  fit(bounds, pad = 0.96) {
    const [xmin, ymin, xmax, ymax] = bounds;
    const rx = xmax - xmin || 1, ry = ymax - ymin || 1;
    this.cx = (xmin + xmax) / 2;
    this.cy = (ymin + ymax) / 2;
    this.k = Math.min(this.w / rx, this.h / ry) * pad;
    this.touched = false;
  }

  /** Canvas-local CSS px from data coordinates (y up in data, down on screen). */
  toLocal(x, y) {
    return [this.w / 2 + (x - this.cx) * this.k, this.h / 2 - (y - this.cy) * this.k];
  }

  toData(lx, ly) {
    return [this.cx + (lx - this.w / 2) / this.k, this.cy - (ly - this.h / 2) / this.k];
  }

  pan(dx, dy) {
    this.cx -= dx / this.k;
    this.cy += dy / this.k;
    this.touched = true;
  }

  /** Zoom by factor f keeping the data point under (lx, ly) fixed. */
  zoomAt(lx, ly, f) {
    const [x, y] = this.toData(lx, ly);
    this.k = Math.min(Math.max(this.k * f, 1e-6), 1e9);
    this.cx = x - (lx - this.w / 2) / this.k;
    this.cy = y + (ly - this.h / 2) / this.k;
    this.touched = true;
  }

  centerOn(x, y, k) {
    this.cx = x;
    this.cy = y;
    if (k) this.k = k;
    this.touched = true;
  }
}
