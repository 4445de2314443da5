// The view's link to the model: the ONLY module that calls model.set / save_changes (throttling the
// values the browser produces at frame rate), sends custom messages, and registers model listeners.

const TIME_SYNC_MS = 150;  // time/epoch reach the kernel at most ~7 times a second while scrubbing/playing
const HOVER_SYNC_MS = 100;

export class ModelSync {
  /**
   * model: the anywidget model. source: {time() -> the view's requested time, epochAt(t) -> epoch number,
   * hovered() -> the hovered index}: read when a throttled update fires, so the latest value is sent.
   */
  constructor(model, source) {
    this.model = model;
    this.source = source;
    this.disposers = [];
    this.timeTimer = 0;
    this.lastTimeSync = 0;
    this.hoverTimer = 0;
  }

  get(key) {
    return this.model.get(key);
  }

  /** model.on(name, fn), undone by dispose(). */
  on(name, fn) {
    this.model.on(name, fn);
    this.disposers.push(() => this.model.off(name, fn));
  }

  /** Set synced traits ({key: value, ...}) and send them to the kernel in one message. */
  set(values) {
    for (const [k, v] of Object.entries(values)) this.model.set(k, v);
    this.model.save_changes();
  }

  /** A custom message to the kernel (the kernel validates it; see ttvis_widget/widget). */
  send(msg, buffers) {
    if (buffers && buffers.length) this.model.send(msg, undefined, buffers);
    else this.model.send(msg);
  }

  /** Send time and epoch: throttled while scrubbing or playing, at once (and final) when `final`. */
  pushTime(final) {
    const send = () => {
      this.timeTimer = 0;
      this.lastTimeSync = performance.now();
      const t = Math.round(this.source.time() * 1e4) / 1e4;
      this.set({ time: t, epoch: this.source.epochAt(t) });
    };
    if (final) {
      clearTimeout(this.timeTimer);
      send();
    } else if (!this.timeTimer) {
      this.timeTimer = setTimeout(send, Math.max(0, TIME_SYNC_MS - (performance.now() - this.lastTimeSync)));
    }
  }

  /** Send the hovered index, at most every HOVER_SYNC_MS. */
  pushHovered() {
    if (this.hoverTimer) return;
    this.hoverTimer = setTimeout(() => {
      this.hoverTimer = 0;
      this.set({ hovered: this.source.hovered() });
    }, HOVER_SYNC_MS);
  }

  setPlaying(on) {
    if (this.model.get("playing") !== on) this.set({ playing: on });
  }

  setSelection(indices) {
    this.set({ selection: [...indices].sort((a, b) => a - b) });
  }

  /** Change one key of the `filters` trait (the others keep their values or defaults). */
  setFilter(key, value) {
    const f = { labels: null, predictions: null, split: "all", correctness: "all", ...(this.model.get("filters") || {}) };
    f[key] = value;
    this.set({ filters: f });
  }

  dispose() {
    clearTimeout(this.timeTimer);
    clearTimeout(this.hoverTimer);
    this.timeTimer = this.hoverTimer = 0;
    for (const d of this.disposers) d();
    this.disposers = [];
  }
}
