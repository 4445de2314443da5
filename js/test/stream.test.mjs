// stream.js: growing timelines, re-quantization on new bounds, evictions, drawing from a window, the slider's
// held-epoch gradient and the window messages' throttle.
import test from "node:test";
import assert from "node:assert/strict";
import { evict, frameTimeHeld, growEpochs, layerOf, layerTable, loadedGradient, requantize, switchToWindow, WindowFollower } from "../src/stream.js";
import { DataStore } from "../src/transport.js";

function store(n, nEpochs, bounds, extra = {}) {
  const s = new DataStore();
  const labels = new Uint16Array(n), split = new Uint8Array(n);
  s.setMeta({ n, n_epochs: nEpochs, epochs: [...Array(nEpochs).keys()], bounds, has_pred: false, no_class: 65535, ...extra },
    [new DataView(labels.buffer), new DataView(split.buffer)]);
  return s;
}

function chunk(s, e, q, slot) {
  const buf = Uint16Array.from(q);
  return s.addChunk({ e0: e, ne: 1, s0: 0, ns: q.length / 2, slot }, [new DataView(buf.buffer)]);
}

const data = (s, e) => [...Array(s.n).keys()].map((i) => s.positionAt(i, e, e, 0));

test("new bounds re-quantize what is held: every point keeps its place to within a quantum", () => {
  const s = store(3, 2, [0, 0, 1, 1]);
  chunk(s, 0, [0, 0, 65535, 65535, 32768, 13107]);
  const before = data(s, 0);
  const changed = requantize(s, [-1, -0.5, 3, 2]);
  assert.deepEqual(changed, [0]);
  const after = data(s, 0);
  before.forEach(([x, y], i) => {
    assert.ok(Math.abs(after[i][0] - x) <= 4 / 65535 && Math.abs(after[i][1] - y) <= 2.5 / 65535, `${i}`);
  });
  assert.deepEqual(s.bounds, [-1, -0.5, 3, 2]);
});

test("a timeline grows without losing what is held", () => {
  const s = store(2, 2, [0, 0, 1, 1]);
  chunk(s, 0, [1, 2, 3, 4]);
  assert.ok(growEpochs(s, [0, 1, 2, 3]));
  assert.equal(s.nEpochs, 4);
  assert.ok(s.epochReady(0) && !s.epochReady(2));
  assert.equal(s.pos.length, 4);
  assert.ok(!growEpochs(s, [0, 1]));
});

test("a windowed store maps epochs to slots and forgets evicted ones", () => {
  const s = store(1, 10, [0, 0, 1, 1], { window: 3 });
  chunk(s, 7, [5, 5], 2);
  assert.equal(layerOf(s, 7), 2);
  assert.ok(s.anyReady());
  evict(s, [7]);
  assert.ok(!s.epochReady(7) && !s.anyReady());
});

test("drawing from a window: the pair around t when held, else the nearest held epoch (a stall)", () => {
  const held = new Set([3, 4, 5]);
  const r = (e) => held.has(e);
  assert.deepEqual(frameTimeHeld(3.5, 10, r), { time: 3.5, e0: 3, e1: 4, frac: 0.5, k: 4, stalled: false });
  assert.equal(frameTimeHeld(8.2, 10, r).e0, 5);
  assert.ok(frameTimeHeld(8.2, 10, r).stalled);
  assert.equal(frameTimeHeld(0.4, 10, r).e0, 3);
  assert.deepEqual(frameTimeHeld(5, 10, r), { time: 5, e0: 5, e1: 5, frac: 0, k: 5, stalled: false });
});

test("the slider's gradient shows which epochs are held", () => {
  const g = loadedGradient((e) => e < 2, 5, "A", "B");
  assert.equal(g, "linear-gradient(to right, A 0.00%, A 37.50%, B 37.50%, B 100.00%)");
});

test("window messages go out when the nearest epoch changes, throttled, the last one always", async () => {
  const sent = [];
  const f = new WindowFollower((m) => sent.push(m), "r", 30);
  f.follow(0.2, 0);
  assert.equal(sent.length, 0);  // still epoch 0
  f.follow(1.4, 100);
  f.follow(2.6, 110);  // within 30 ms: deferred
  assert.deepEqual(sent, [{ type: "window", rid: "r", center: 1, direction: 1 }]);
  await new Promise((res) => setTimeout(res, 60));
  assert.deepEqual(sent[1], { type: "window", rid: "r", center: 3, direction: 1 });
  f.dispose();
});

test("the layer table maps each held epoch to its slot, never to its own index, and the rest to -1", () => {
  const s = store(1, 8, [0, 0, 1, 1], { window: 3 });
  chunk(s, 5, [1, 1], 0);  // the window around epoch 5, nearest first: 5, 4, 6 in slots 0, 1, 2
  chunk(s, 4, [2, 2], 1);
  chunk(s, 6, [3, 3], 2);
  assert.deepEqual([...layerTable(s)], [-1, -1, -1, -1, 1, 0, 2, -1]);
  evict(s, [4]);
  chunk(s, 7, [4, 4], 1);
  assert.deepEqual([...layerTable(s)], [-1, -1, -1, -1, -1, 0, 2, 1]);
  const full = store(1, 4, [0, 0, 1, 1]);  // not windowed: layer = epoch index, where held
  chunk(full, 0, [1, 1]);
  chunk(full, 2, [1, 1]);
  assert.deepEqual([...layerTable(full)], [0, -1, 2, -1]);
});

test("a view that held every epoch switches to a window: it drops them all and maps epochs to slots from then on", () => {
  const s = store(1, 6, [0, 0, 1, 1]);
  for (let e = 0; e < 6; e++) chunk(s, e, [e, e]);
  assert.ok(!switchToWindow(s, 0) && !switchToWindow(s, 2.5) && !s.window);  // bad sizes are refused
  assert.ok(switchToWindow(s, 4));
  assert.equal(s.window, 4);
  assert.ok(!s.anyReady() && s.pos.every((p) => p === null));
  chunk(s, 3, [9, 9], 1);
  assert.deepEqual([...layerTable(s)], [-1, -1, -1, 1, -1, -1]);
  assert.ok(!switchToWindow(s, 3));  // once windowed, the size stays
});
