// Unit tests of refusals.js: which refusals concern a view, how many it keeps, how long the notice shows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Refusals, SHOW_MS } from "../src/refusals.js";

test("a view keeps its own refusals and those without a rid, not another view's", () => {
  const r = new Refusals("view-a", 3);
  assert.equal(r.receive({ type: "refused", rid: "view-b", field: "rid", reason: "x" }, 0), false);
  assert.equal(r.receive({ type: "refused", rid: null, message: "sample", field: "index", reason: "'sample' field 'index': -1" }, 0), true);
  assert.equal(r.receive({ type: "refused", rid: "view-a", message: "request", field: "rid", reason: "r" }, 0), true);
  assert.deepEqual(r.items.map((i) => i.field), ["index", "rid"]);
  for (let k = 0; k < 5; k++) r.receive({ type: "refused", field: `f${k}`, reason: "z" }, 0);
  assert.deepEqual(r.items.map((i) => i.field), ["f2", "f3", "f4"]);  // bounded, newest kept
});

test("the notice names the reason while it is recent, then clears", () => {
  const r = new Refusals("v");
  assert.equal(r.text(0), "");
  r.receive({ type: "refused", field: "selection", reason: "'update' field 'selection': item -1 is out of range" }, 1000);
  assert.match(r.text(1000 + SHOW_MS - 1), /^refused by the kernel: .*'selection'/);
  assert.equal(r.text(1000 + SHOW_MS), "");
});
