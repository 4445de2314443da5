// Unit tests of flags.js: the pure per-point flags function and the bit constants shared with the shaders.
import assert from "node:assert/strict";
import { test } from "node:test";
import { computeFlags, FLAG, FLAG_GLSL, MARK } from "../src/flags.js";
import { POINT_VS } from "../src/shaders.js";

const NO = 65535;

function run(over = {}) {
  const n = 5;
  const src = {
    n, noClass: NO,
    labels: Uint16Array.from([0, 1, 2, NO, 1]),
    split: Uint8Array.from([0, 0, 1, 1, 0]),
    pred: Uint16Array.from([0, 2, 2, 1, 1]),
    prev: Uint16Array.from([0, 1, 2, 0, 1]),
    conf: Uint8Array.from([10, 20, 30, 40, 50]),
    flips: true, filters: {}, selection: new Set([4]), colorBy: "label", nClasses: 3, ...over,
  };
  const meta = new Uint16Array(4 * n), hidden = new Uint8Array(n);
  const counts = computeFlags(src, meta, hidden);
  const flags = [...Array(n).keys()].map((i) => meta[4 * i + 3] & 255);
  return { meta, hidden: [...hidden], counts: [...counts], flags };
}

test("flags: wrong, flip, selected, and the confidence in the high byte", () => {
  const { meta, flags, hidden, counts } = run();
  assert.deepEqual(hidden, [0, 0, 0, 0, 0]);
  assert.equal(flags[0], 0);
  assert.equal(flags[1], FLAG.WRONG | FLAG.FLIP);            // label 1, predicted 2, was 1
  assert.equal(flags[3], FLAG.FLIP);                         // unlabelled: never wrong; 0 -> 1 is a flip
  assert.equal(flags[4], FLAG.SELECTED);
  assert.deepEqual([...meta.slice(4, 8)], [1, 2, 1, (FLAG.WRONG | FLAG.FLIP) | (20 << 8)]);
  assert.deepEqual(counts, [1, 2, 1]);                       // by label; the unlabelled point counts nowhere
});

test("flags: no flips at the first epoch, NOCONF and no WRONG without predictions", () => {
  assert.equal(run({ flips: false }).flags[1], FLAG.WRONG);
  const { flags, meta, counts } = run({ pred: null, prev: null, conf: null });
  assert.deepEqual(flags, [0, 0, 0, 0, FLAG.SELECTED].map((f) => f | FLAG.NOCONF));
  assert.equal(meta[1], NO);
  assert.equal(meta[3] >> 8, 255);
  assert.deepEqual(counts, [1, 2, 1]);
});

test("flags: every filter hides exactly what it says, counts follow the colouring", () => {
  assert.deepEqual(run({ filters: { split: "test" } }).hidden, [1, 1, 0, 0, 1]);
  assert.deepEqual(run({ filters: { labels: [1] } }).hidden, [1, 0, 1, 1, 0]);
  assert.deepEqual(run({ filters: { predictions: [2] } }).hidden, [1, 0, 0, 1, 1]);
  assert.deepEqual(run({ filters: { correctness: "incorrect" } }).hidden, [1, 0, 1, 1, 1]);
  assert.deepEqual(run({ filters: { correctness: "correct" } }).hidden, [0, 1, 0, 1, 0]);
  assert.deepEqual(run({ filters: { correctness: "incorrect" }, pred: null }).hidden, [0, 0, 0, 0, 0]);
  const r = run({ filters: { split: "train" }, colorBy: "prediction" });
  assert.equal(r.flags[2] & FLAG.HIDDEN, FLAG.HIDDEN);
  assert.deepEqual(r.counts, [1, 1, 1]);                     // train points 0, 1, 4 predicted 0, 2, 1
});

test("the shaders use flags.js' constants, not their own", () => {
  assert.ok(POINT_VS.includes(FLAG_GLSL));
  for (const [k, v] of Object.entries(FLAG)) assert.ok(POINT_VS.includes(`const uint ${k} = ${v}u;`), k);
  for (const [k, v] of Object.entries(MARK)) assert.ok(POINT_VS.includes(`const int MARK_${k} = ${v};`), k);
  assert.equal((POINT_VS.match(/const uint HIDDEN/g) || []).length, 1);
  assert.ok(!/u_marks & [0-9]/.test(POINT_VS), "marks tested with literal bits");
});
