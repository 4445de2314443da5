// Hover picking on the CPU: the positions at the current time are computed once per (time, data) state
// (O(N), about a millisecond at 60k) and the nearest visible point within a pixel radius wins.

export class Picker {
  constructor(store) {
    this.store = store;
    this.key = "";
    this.xy = null;
  }

  invalidate() {
    this.key = "";
  }

  positions(e0, e1, frac, version) {
    const key = `${e0}:${e1}:${frac}:${version}`;
    if (key !== this.key) {
      this.xy = this.store.positionsAt(e0, e1, frac, this.xy);
      this.key = key;
    }
    return this.xy;
  }

  /** Nearest visible sample to data point (x, y) within radius r (data units), or -1. */
  nearest(xy, hidden, x, y, r) {
    let best = -1;
    let bd = r * r;
    const n = this.store.n;
    for (let i = 0; i < n; i++) {
      if (hidden[i]) continue;
      const dx = xy[2 * i] - x;
      if (dx > r || dx < -r) continue;
      const dy = xy[2 * i + 1] - y;
      const d = dx * dx + dy * dy;
      if (d <= bd) {
        bd = d;
        best = i;
      }
    }
    return best;
  }
}
