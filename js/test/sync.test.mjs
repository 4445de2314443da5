// Unit tests of sync.js against a stand-in model: what reaches the kernel, when, and in how many messages.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ModelSync } from "../src/sync.js";

class FakeModel {
  constructor(state = {}) { this.state = { ...state }; this.saved = []; this.sent = []; this.listeners = new Map(); }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; this.pending = { ...(this.pending || {}), [k]: v }; }
  save_changes() { this.saved.push(this.pending); this.pending = null; }
  send(msg, cb, buffers) { this.sent.push({ msg, buffers }); }
  on(n, fn) { this.listeners.set(n, fn); }
  off(n, fn) { if (this.listeners.get(n) === fn) this.listeners.delete(n); }
}

test("pushTime: final goes at once; while scrubbing at most one message per throttle window", async () => {
  const m = new FakeModel();
  let t = 1.23456;
  const s = new ModelSync(m, { time: () => t, epochAt: (x) => 10 + Math.round(x), hovered: () => -1 });
  s.pushTime(true);
  assert.deepEqual(m.saved, [{ time: 1.2346, epoch: 11 }]);
  for (const x of [1.3, 1.4, 1.6, 1.8]) { t = x; s.pushTime(false); }
  assert.equal(m.saved.length, 1);
  await sleep(200);
  assert.deepEqual(m.saved.slice(1), [{ time: 1.8, epoch: 12 }]);  // the latest value, once
  s.dispose();
});

test("setFilter keeps the other keys; setSelection sorts; setPlaying only sends a change", () => {
  const m = new FakeModel({ filters: { split: "test" }, playing: false });
  const s = new ModelSync(m, { time: () => 0, epochAt: () => 0, hovered: () => -1 });
  s.setFilter("labels", [2]);
  assert.deepEqual(m.saved.pop(), { filters: { labels: [2], predictions: null, split: "test", correctness: "all" } });
  s.setSelection(new Set([5, 1, 3]));
  assert.deepEqual(m.saved.pop(), { selection: [1, 3, 5] });
  s.setPlaying(false);
  assert.equal(m.saved.length, 0);
  s.setPlaying(true);
  assert.deepEqual(m.saved.pop(), { playing: true });
});

test("hover is throttled and sends the latest index; dispose cancels pending sends and listeners", async () => {
  const m = new FakeModel();
  let hovered = 3;
  const s = new ModelSync(m, { time: () => 0, epochAt: () => 0, hovered: () => hovered });
  s.on("change:x", () => {});
  s.pushHovered();
  hovered = 7;
  s.pushHovered();
  await sleep(150);
  assert.deepEqual(m.saved, [{ hovered: 7 }]);
  s.pushHovered();
  s.pushTime(false);
  s.dispose();
  await sleep(200);
  assert.equal(m.saved.length, 1);
  assert.equal(m.listeners.size, 0);
});
