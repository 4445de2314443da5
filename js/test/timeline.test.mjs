// Unit tests of timeline.js: frameTime (the one time -> epochs arithmetic), stepping and playback.
import assert from "node:assert/strict";
import { test } from "node:test";
import { frameTime, stepIndex, Timeline } from "../src/timeline.js";

test("frameTime mixes the two loaded epochs around t", () => {
  assert.deepEqual(frameTime(1.25, 4, 3), { time: 1.25, e0: 1, e1: 2, frac: 0.25, k: 1 });
  assert.deepEqual(frameTime(2.75, 4, 3), { time: 2.75, e0: 2, e1: 3, frac: 0.75, k: 3 });
  assert.deepEqual(frameTime(3, 4, 3), { time: 3, e0: 3, e1: 3, frac: 0, k: 3 });
});

test("frameTime clamps to the timeline and to what is loaded", () => {
  assert.deepEqual(frameTime(-2, 4, 3), { time: 0, e0: 0, e1: 1, frac: 0, k: 0 });
  assert.deepEqual(frameTime(9, 4, 3), { time: 3, e0: 3, e1: 3, frac: 0, k: 3 });
  assert.deepEqual(frameTime(2.5, 4, 1), { time: 1, e0: 1, e1: 1, frac: 0, k: 1 });  // epochs 2, 3 not here yet
  assert.deepEqual(frameTime(2.5, 4, -1), { time: 0, e0: 0, e1: 0, frac: 0, k: 0 }); // nothing loaded
});

test("stepIndex snaps a fractional time toward the step and stays on the timeline", () => {
  assert.equal(stepIndex(1.4, 1, 5), 2);
  assert.equal(stepIndex(1.4, -1, 5), 1);
  assert.equal(stepIndex(2, 1, 5), 3);
  assert.equal(stepIndex(4, 1, 5), 4);
  assert.equal(stepIndex(0, -1, 5), 0);
});

function store(nEpochs, loaded) {
  return { meta: {}, nEpochs, epochReady: (e) => e < loaded };
}

test("playback advances at speed, waits for unloaded epochs, stops at the end", () => {
  const tl = new Timeline(() => [1, 2, 3, 4], store(4, 4));
  assert.equal(tl.maxLoaded, 3);
  tl.setPlaying(true, 1000);
  assert.equal(tl.advance(1100, 2), false);
  assert.ok(Math.abs(tl.t - 0.2) < 1e-9);
  assert.equal(tl.advance(3000, 2), false);                  // a long stall counts as 0.25 s
  assert.ok(Math.abs(tl.t - 0.7) < 1e-9);
  tl.t = 2.9;
  assert.equal(tl.advance(3200, 2), true);
  assert.equal(tl.t, 3);
  assert.equal(tl.epochAt(tl.t), 4);
  tl.setPlaying(true, 4000);                                 // play again from the end: starts over
  assert.equal(tl.t, 0);

  const partial = new Timeline(() => [1, 2, 3, 4], store(4, 2));
  partial.t = 1;
  partial.setPlaying(true, 0);
  partial.advance(100, 2);
  assert.equal(partial.t, 1, "playback ran into epoch index 2, which is not loaded");
});
