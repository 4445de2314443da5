// Decoding of the kernel's binary messages (mirror of ttvis_widget/widget/transport.py).
// Every view asks for the data itself ({type: "request", rid}) and keeps only messages carrying its rid.

function u16(dv) {
  if (dv.byteOffset % 2 === 0) return new Uint16Array(dv.buffer, dv.byteOffset, dv.byteLength >> 1);
  return new Uint16Array(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
}

function u8(dv) {
  return new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
}

export function newRid() {
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

/** CPU copy of everything received: used for picking, lasso, filters and tooltips. */
export class DataStore {
  constructor() {
    this.meta = null;
    this.n = 0;
    this.nEpochs = 0;
  }

  /** meta message: sizes, bounds, labels (uint16, NO_CLASS = unknown) and split (uint8). */
  setMeta(content, buffers) {
    this.meta = content;
    this.n = content.n;
    this.nEpochs = content.n_epochs;
    this.epochs = content.epochs;
    this.bounds = content.bounds;
    this.hasPred = content.has_pred;
    this.noClass = content.no_class;
    this.labels = u16(buffers[0]).slice();
    this.split = u8(buffers[1]).slice();
    this.pos = new Array(this.nEpochs).fill(null);
    this.pred = new Array(this.nEpochs).fill(null);
    this.conf = new Array(this.nEpochs).fill(null);
    this.loaded = new Uint32Array(this.nEpochs);
    this.territory = new Array(this.nEpochs).fill(null);
    this.chunksReceived = 0;
    this.done = false;
    this.window = content.window || 0;  // > 0: this view holds at most `window` epochs (stream.js)
    this.slots = this.window ? new Map() : null;  // epoch index -> GPU layer
    this.live = !!content.live;
  }

  /** chunk message: returns [{e, s0, data}] position pieces to upload to the GPU. */
  addChunk(c, buffers) {
    const { e0, ne, s0, ns } = c;
    const pos = u16(buffers[0]);
    const pred = this.hasPred ? u16(buffers[1]) : null;
    const conf = this.hasPred ? u8(buffers[2]) : null;
    const pieces = [];
    for (let j = 0; j < ne; j++) {
      const e = e0 + j;
      if (!this.pos[e]) this.pos[e] = new Uint16Array(this.n * 2);
      const part = pos.subarray(j * ns * 2, (j + 1) * ns * 2);
      this.pos[e].set(part, s0 * 2);
      if (pred) {
        if (!this.pred[e]) this.pred[e] = new Uint16Array(this.n);
        if (!this.conf[e]) this.conf[e] = new Uint8Array(this.n);
        this.pred[e].set(pred.subarray(j * ns, (j + 1) * ns), s0);
        this.conf[e].set(conf.subarray(j * ns, (j + 1) * ns), s0);
      }
      this.loaded[e] += ns;
      if (this.slots && c.slot !== undefined) this.slots.set(e, c.slot);
      pieces.push({ e, layer: this.slots ? (c.slot ?? 0) : e, s0, data: this.pos[e].subarray(s0 * 2, (s0 + ns) * 2) });
    }
    this.chunksReceived++;
    return pieces;
  }

  addTerritories(c, buffers) {
    c.epochs.forEach((k, j) => {
      const dv = buffers[j];
      this.territory[k] = new Blob([new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength)], { type: "image/png" });
    });
  }

  epochReady(e) {
    return this.loaded && e >= 0 && e < this.nEpochs && this.loaded[e] >= this.n;
  }

  /** Whether any epoch is held in full (something can be drawn). */
  anyReady() {
    if (!this.loaded) return false;
    for (let e = 0; e < this.nEpochs; e++) if (this.loaded[e] >= this.n) return true;
    return false;
  }

  get epochsLoaded() {
    if (!this.loaded) return 0;
    let k = 0;
    for (let e = 0; e < this.nEpochs; e++) if (this.loaded[e] >= this.n) k++;
    return k;
  }

  /** Dequantized data coordinates of sample i at fractional time t (same arithmetic as the shader). */
  positionAt(i, e0, e1, frac) {
    const a = this.pos[e0], b = this.pos[e1] || a;
    const [xmin, ymin, xmax, ymax] = this.bounds;
    const rx = xmax - xmin || 1, ry = ymax - ymin || 1;
    const qx = a[2 * i] + (b[2 * i] - a[2 * i]) * frac;
    const qy = a[2 * i + 1] + (b[2 * i + 1] - a[2 * i + 1]) * frac;
    return [xmin + (qx / 65535) * rx, ymin + (qy / 65535) * ry];
  }

  /** Float32Array [2n] of all positions at (e0, e1, frac). */
  positionsAt(e0, e1, frac, out) {
    const a = this.pos[e0], b = this.pos[e1] || a;
    const n = this.n;
    out = out && out.length === 2 * n ? out : new Float32Array(2 * n);
    const [xmin, ymin, xmax, ymax] = this.bounds;
    const sx = (xmax - xmin || 1) / 65535, sy = (ymax - ymin || 1) / 65535;
    for (let i = 0; i < n; i++) {
      const ax = a[2 * i], ay = a[2 * i + 1];
      out[2 * i] = xmin + (ax + (b[2 * i] - ax) * frac) * sx;
      out[2 * i + 1] = ymin + (ay + (b[2 * i + 1] - ay) * frac) * sy;
    }
    return out;
  }
}

/** Per-model cache of sample images/texts shared by all views of one widget (LRU of object URLs). */
const sampleCaches = new WeakMap();

export class SampleCache {
  static of(model) {
    let c = sampleCaches.get(model);
    if (!c) {
      c = new SampleCache(model);
      sampleCaches.set(model, c);
    }
    return c;
  }

  constructor(model, limit = 512) {
    this.model = model;
    this.limit = limit;
    this.items = new Map(); // index -> {url, text, error}
    this.waiting = new Map(); // index -> [callbacks]
  }

  get(i) {
    const v = this.items.get(i);
    if (v) {
      this.items.delete(i);
      this.items.set(i, v); // LRU touch
    }
    return v;
  }

  request(i, cb) {
    const v = this.get(i);
    if (v) {
      cb(v);
      return;
    }
    const w = this.waiting.get(i);
    if (w) {
      w.push(cb);
      return;
    }
    this.waiting.set(i, [cb]);
    this.model.send({ type: "sample", index: i });
  }

  /** A "sample" message from the kernel (every view of the model sees it; handling is idempotent). */
  receive(c, buffers) {
    const i = c.index;
    let v = this.items.get(i);
    if (!v) {
      v = { text: c.text ?? null, error: c.error ?? null, url: null };
      if (buffers && buffers.length) {
        const dv = buffers[0];
        v.url = URL.createObjectURL(new Blob([new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength)], { type: "image/png" }));
      }
      this.items.set(i, v);
      while (this.items.size > this.limit) {
        const [j, old] = this.items.entries().next().value;
        if (old.url) URL.revokeObjectURL(old.url);
        this.items.delete(j);
      }
    }
    const w = this.waiting.get(i);
    this.waiting.delete(i);
    if (w) for (const cb of w) cb(v);
  }
}
