// Streams that change under a view (ttvis_widget/widget/live.py): epochs arriving while a fit runs, a timeline
// that grows with a live recording, bounds that widen (re-quantize what is held: nothing moves), and a window
// of epochs around the current time when the browser cannot hold them all (slots on the GPU, evictions, and
// the window messages that slide it). Pure functions over the DataStore, plus the WindowFollower.

/** The timeline grew to `epochs` (recorded epoch numbers): extend the store's per-epoch arrays. */
export function growEpochs(store, epochs) {
  const n = epochs.length;
  if (n <= store.nEpochs) return false;
  const more = n - store.nEpochs;
  store.epochs = epochs.slice();
  for (const k of ["pos", "pred", "conf", "territory"]) store[k] = store[k].concat(new Array(more).fill(null));
  const loaded = new Uint32Array(n);
  loaded.set(store.loaded);
  store.loaded = loaded;
  store.nEpochs = n;
  store.done = false;
  return true;
}

/**
 * Re-quantize every held epoch from the store's bounds to `bounds` (in place) so that each position keeps its
 * data coordinates (to within one quantum of each box): returns the epoch indices whose data changed.
 */
export function requantize(store, bounds) {
  const [ax, ay, bx, by] = store.bounds;
  const [cx, cy, dx, dy] = bounds;
  const sx = (bx - ax || 1) / (dx - cx || 1), sy = (by - ay || 1) / (dy - cy || 1);
  const ox = ((ax - cx) / (dx - cx || 1)) * 65535, oy = ((ay - cy) / (dy - cy || 1)) * 65535;
  const changed = [];
  store.pos.forEach((p, e) => {
    if (!p) return;
    for (let i = 0; i < p.length; i += 2) {
      p[i] = Math.min(65535, Math.max(0, Math.round(p[i] * sx + ox)));
      p[i + 1] = Math.min(65535, Math.max(0, Math.round(p[i + 1] * sy + oy)));
    }
    changed.push(e);
  });
  store.bounds = bounds.slice();
  return changed;
}

/** Drop epochs `ks` (windowed view): their slots become free for the kernel to reuse. */
export function evict(store, ks) {
  for (const k of ks) {
    if (k < 0 || k >= store.nEpochs) continue;
    store.pos[k] = store.pred[k] = store.conf[k] = null;
    store.loaded[k] = 0;
    if (store.slots) store.slots.delete(k);
  }
}

/**
 * A view that held every epoch must hold a window of `size` from now on (a live recording outgrew its budget):
 * it drops everything (the kernel sends the window's epochs again, into slots). False for a bad size.
 */
export function switchToWindow(store, size) {
  if (!Number.isInteger(size) || size < 1 || store.window) return false;
  evict(store, [...Array(store.nEpochs).keys()]);
  store.window = size;
  store.slots = new Map();
  return true;
}

/** GPU layer of epoch index e: its slot when windowed, else e itself. */
export function layerOf(store, e) {
  return store.slots ? (store.slots.get(e) ?? 0) : e;
}

/**
 * GPU layer of every epoch index, -1 where the epoch is not held in full: what anything that reads several
 * epochs from the position texture (the debugger's trails) must use, since in a windowed or live view a
 * layer is a slot, not the epoch index. Pure.
 */
export function layerTable(store) {
  const out = new Int32Array(Math.max(0, store.nEpochs || 0)).fill(-1);
  for (let e = 0; e < out.length; e++) if (store.epochReady(e)) out[e] = layerOf(store, e);
  return out;
}

/**
 * What to draw for time t when any set of epochs may be held (windowed views): the pair around t when both are
 * held, else the held epoch nearest to t (`stalled`: the requested time is not drawable yet). Pure.
 */
export function frameTimeHeld(t, nEpochs, ready) {
  const time = Math.min(Math.max(t, 0), nEpochs - 1);
  const e0 = Math.floor(time), e1 = Math.min(e0 + 1, nEpochs - 1);
  if (ready(e0) && ready(e1)) return { time, e0, e1, frac: e1 === e0 ? 0 : time - e0, k: Math.round(time), stalled: false };
  if (ready(e0) && time - e0 < 1e-9) return { time: e0, e0, e1: e0, frac: 0, k: e0, stalled: false };
  let best = -1;
  for (let d = 0; d < nEpochs && best < 0; d++) {
    for (const k of [Math.round(time) - d, Math.round(time) + d]) if (k >= 0 && k < nEpochs && ready(k)) { best = k; break; }
  }
  if (best < 0) return { time: 0, e0: 0, e1: 0, frac: 0, k: 0, stalled: true };
  return { time: best, e0: best, e1: best, frac: 0, k: best, stalled: true };
}

/** CSS background of the slider: held/fitted epochs dark, the rest light (one run of colour per stretch). */
export function loadedGradient(ready, nEpochs, on = "#6a8fc7", off = "#dde3ec") {
  if (nEpochs <= 1) return ready(0) ? on : off;
  const stops = [];
  let k = 0;
  while (k < nEpochs) {
    const r = ready(k);
    let j = k;
    while (j + 1 < nEpochs && ready(j + 1) === r) j++;
    const a = (Math.max(0, k - 0.5) / (nEpochs - 1)) * 100, b = (Math.min(nEpochs - 1, j + 0.5) / (nEpochs - 1)) * 100;
    stops.push(`${r ? on : off} ${a.toFixed(2)}%`, `${r ? on : off} ${b.toFixed(2)}%`);
    k = j + 1;
  }
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

/**
 * Tells the kernel where a windowed view's time is ({type: "window", rid, center, direction}) when its nearest
 * epoch changes, at most every `minMs` (the last position always goes out), so the kernel slides the window
 * and prefetches ahead in the direction of motion.
 */
export class WindowFollower {
  constructor(send, rid, minMs = 60) {
    this.send = send;
    this.rid = rid;
    this.minMs = minMs;
    this.center = 0;
    this.sentAt = -Infinity;
    this.timer = 0;
    this.pending = null;
  }

  follow(t, now) {
    const k = Math.round(t);
    if (k === this.center && !this.pending) return;
    const direction = Math.sign(k - this.center);
    this.pending = { k, direction: direction || (this.pending ? this.pending.direction : 0) };
    if (now - this.sentAt >= this.minMs) this.flush(now);
    else if (!this.timer) this.timer = setTimeout(() => { this.timer = 0; this.flush(performance.now()); }, this.minMs);
  }

  flush(now) {
    if (!this.pending) return;
    const { k, direction } = this.pending;
    this.pending = null;
    this.center = k;
    this.sentAt = now;
    this.send({ type: "window", rid: this.rid, center: k, direction });
  }

  dispose() {
    clearTimeout(this.timer);
  }
}
