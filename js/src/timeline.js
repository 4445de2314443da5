// Training time of one view: the requested time (a fractional epoch index), playback and stepping, and
// frameTime(), the ONE place that turns a time into the pair of loaded epochs and the fraction to draw.
import { frameTimeHeld } from "./stream.js";


/**
 * What to draw for time t on a timeline of nEpochs epochs when epochs 0..maxLoaded are loaded. Pure.
 * Returns {time: the time drawn (t clamped to the timeline and to what is loaded), e0, e1 (epoch indices to
 * mix), frac (weight of e1), k (nearest epoch index: the epoch whose predictions and flags are shown)}.
 */
export function frameTime(t, nEpochs, maxLoaded) {
  const last = Math.max(0, maxLoaded);
  const time = Math.min(Math.min(Math.max(t, 0), nEpochs - 1), last);
  const e0 = Math.floor(time), e1 = Math.min(e0 + 1, last);
  return { time, e0, e1, frac: e1 === e0 ? 0 : time - e0, k: Math.round(time) };
}

/** Epoch index that a step of d epochs from time t lands on (a fractional t first snaps toward d). */
export function stepIndex(t, d, nEpochs) {
  const from = d > 0 ? Math.floor(t + 1e-6) : Math.ceil(t - 1e-6);
  return Math.min(nEpochs - 1, Math.max(0, from + d));
}

export class Timeline {
  /** epochs(): the recorded epoch numbers (info.epochs); store: the DataStore (what is loaded). */
  constructor(epochs, store, t = 0) {
    this.epochs = epochs;
    this.store = store;
    this.t = t;
    this.playing = false;
    this.scrubbing = false;
    this.lastTick = 0;
  }

  get nEpochs() {
    return this.epochs().length || this.store.nEpochs || 1;
  }

  /** Largest epoch index k such that epochs 0..k are all loaded (chunks arrive in order); -1 before meta. */
  get maxLoaded() {
    const s = this.store;
    if (!s.meta) return -1;
    let k = -1;
    while (k + 1 < s.nEpochs && s.epochReady(k + 1)) k++;
    return k;
  }

  frameTime() {
    const s = this.store;
    if (s.window) return frameTimeHeld(this.t, this.nEpochs, (e) => s.epochReady(e));
    return frameTime(this.t, this.nEpochs, this.maxLoaded);
  }

  /** The recorded epoch number nearest to time t. */
  epochAt(t) {
    const eps = this.epochs();
    return eps[Math.min(eps.length - 1, Math.max(0, Math.round(t)))];
  }

  /** Index of a recorded epoch number, or -1. */
  indexOf(epoch) {
    return this.epochs().indexOf(epoch);
  }

  step(d) {
    this.t = stepIndex(this.t, d, this.nEpochs);
  }

  /** Start (from the beginning when at the end) or stop playback. */
  setPlaying(on, now) {
    if (on && this.t >= this.nEpochs - 1 - 1e-6) this.t = 0;
    this.playing = on;
    this.lastTick = now;
  }

  /**
   * Advance playback to wall time `now` (ms) at `speed` epochs/s, never past what is loaded and at most a
   * quarter second per call (a stalled tab resumes where it was). Returns true when it reached the end.
   */
  advance(now, speed) {
    const dt = Math.min(0.25, (now - (this.lastTick || now)) / 1000);
    this.lastTick = now;
    const E = this.nEpochs;
    const next = Math.min(E - 1, Math.ceil(this.t + 1e-9));
    if (this.store.window ? this.store.epochReady(next) : this.maxLoaded >= next) this.t += dt * speed;
    if (this.t >= E - 1) {
      this.t = E - 1;
      return true;
    }
    return false;
  }
}
