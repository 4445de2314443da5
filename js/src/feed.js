// The view's data feed: asks the kernel for this view's own stream and applies its messages (meta, chunk,
// epochs, bounds, evict, windowed, territory, done) to the CPU store and the GPU; messages for every view (sample, focus, refused) go to handlers,
// and any other kernel message (the analysis answers) to on.message.
import { WindowFollower, evict, growEpochs, layerOf, requantize, switchToWindow } from "./stream.js";
import { newRid } from "./transport.js";

const STREAM = ["meta", "chunk", "epochs", "bounds", "evict", "windowed", "territory", "done"];  // this view's own data stream (by rid)

export class DataFeed {
  /**
   * store: DataStore; renderer(): the Renderer or null; send(msg): to the kernel.
   * on: {meta(), data(kind), sample(msg, buffers), focus(index), refused(msg), error(message), message(msg, buffers)}.
   */
  constructor(store, renderer, send, on) {
    this.store = store;
    this.renderer = renderer;
    this.send = send;
    this.on = on;
    this.rid = newRid();
    this.version = 0;  // bumped by every position chunk: what depends on positions recomputes
    this.createdAt = performance.now();
    this.allEpochsMs = null;  // ms from the view's creation to every epoch's positions on the GPU
    this.failed = false;
    this.phases = {};  // ms from the view's creation to: requested, renderer, constructed, meta, firstChunk, data:<type> (first handled of each type)
  }

  mark(name) {
    if (!(name in this.phases)) this.phases[name] = performance.now() - this.createdAt;
  }

  /** Ask for the stream: positions and predictions first epoch first, then territories. */
  request() {
    this.send({ type: "request", rid: this.rid, paced: true });
    this.mark("requested");
  }

  /** The first frame is on screen: a paced stream (widget.py) sends the rest now. */
  drawn() {
    this.send({ type: "drawn", rid: this.rid });
  }

  /** Windowed views: tell the kernel where the time is, so it slides the window (stream.js). */
  follow(t) {
    if (!this.follower) this.follower = new WindowFollower(this.send, this.rid);
    this.follower.follow(t, performance.now());
  }

  reupload() {
    const s = this.store;
    s.pos.forEach((p, e) => { if (p && s.loaded[e]) this.renderer().uploadPositions(layerOf(s, e), 0, p); });
  }

  handle(c, buffers) {
    if (!c || typeof c !== "object") return;
    if (c.type === "sample") return this.on.sample(c, buffers);
    if (c.type === "focus") return this.on.focus(c.index);
    if (c.type === "refused") return this.on.refused(c);
    if (!STREAM.includes(c.type)) return this.on.message?.(c, buffers);
    if (c.rid !== this.rid || this.failed) return;
    const s = this.store;
    try {
      if (c.type === "meta") {
        s.setMeta(c, buffers);
        this.layers = s.window || s.nEpochs;
        // the first frame needs one epoch: a one-layer texture now, all layers when a later epoch arrives (the
        // first use of a texture of every epoch costs software GL a frame's time: 0.2 s at 60k x 200)
        this.renderer().allocate(s.n, s.window ? this.layers : 1);
        this.mark("meta");
        this.on.meta();
      } else if (c.type === "chunk") {
        if (!s.window && this.renderer().nEpochs < this.layers && c.e0 + c.ne > 1) {
          this.renderer().allocate(s.n, this.layers);  // every epoch's layer now: upload what is held again
          this.reupload();
          this.on.reallocated();
        }
        for (const p of s.addChunk(c, buffers)) {
          this.renderer().uploadPositions(p.layer, p.s0, p.data);
          // windowed: the kernel sends the next epoch once this one is in (live.py IN_FLIGHT)
          if (s.window && s.epochReady(p.e)) this.send({ type: "held", rid: this.rid, epoch: p.e });
        }
        this.mark("firstChunk");
        this.version++;
        if (s.epochsLoaded === s.nEpochs && this.allEpochsMs === null) this.allEpochsMs = performance.now() - this.createdAt;
      } else if (c.type === "epochs") {  // a live recording grew: a longer timeline, no reload
        if (growEpochs(s, c.epochs) && !s.window && s.nEpochs > this.layers) {
          this.layers = Math.min(Math.max(s.nEpochs, Math.ceil(this.layers * 1.5)), this.renderer().maxLayers);
          this.renderer().allocate(s.n, this.layers);  // a new texture: upload what is held again
          this.reupload();
          this.on.reallocated();
        }
      } else if (c.type === "bounds") {  // later chunks use these bounds: re-quantize what is held
        for (const e of requantize(s, c.bounds)) this.renderer().uploadPositions(layerOf(s, e), 0, s.pos[e]);
        this.version++;
        this.on.bounds();
      } else if (c.type === "evict") {
        evict(s, c.epochs);
        this.version++;
      } else if (c.type === "windowed") {  // a live recording outgrew the budget: a window of slots from now on
        if (!switchToWindow(s, c.window)) return;
        this.layers = Math.min(s.window, this.renderer().maxLayers);
        this.renderer().allocate(s.n, this.layers);
        this.version++;
        this.on.reallocated();
      } else if (c.type === "territory") {
        s.addTerritories(c, buffers);
      } else if (c.type === "done") {
        s.done = true;
      } else {
        return;
      }
    } catch (e) {
      this.failed = true;
      this.on.error(`Could not load the data: ${e.message}`);
      return;
    }
    this.on.data(c.type);
    this.mark("data:" + c.type);
  }
}
