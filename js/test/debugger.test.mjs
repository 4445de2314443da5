// Unit tests of the debugger's pure parts: which samples get trails, the vis-error mask, the neighbour-line
// segments, the prediction-history cells, the events rows and the result groups; and the panel host's listeners.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventRow, EVENT_KINDS } from "../src/panels/events.js";
import { countFlips, historyCells } from "../src/panels/history.js";
import { CHANGES, PanelHost } from "../src/panels/index.js";
import { resultGroups } from "../src/panels/results.js";
import { maskToIndices } from "../src/overlays/marks.js";
import { LINE_ORDER, LINE_STYLES, neighborSegments } from "../src/overlays/neighbors.js";
import { fadeLength, TRAIL_CAP, trailSamples } from "../src/overlays/trails.js";
import { TRAIL_VS } from "../src/overlays/glsl.js";

test("trails: every visible selected sample up to the cap, an even spread beyond it", () => {
  assert.deepEqual([...trailSamples([1, 4, 7], null)], [1, 4, 7]);
  const hidden = new Uint8Array(10);
  hidden[4] = 1;
  assert.deepEqual([...trailSamples([1, 4, 7], hidden)], [1, 7]);
  const many = [...Array(10000).keys()];
  const got = trailSamples(many, null);
  assert.equal(got.length, TRAIL_CAP);
  assert.equal(got[0], 0);
  assert.ok(got[TRAIL_CAP - 1] >= 9990, "the spread reaches the end of the selection");
  assert.ok(got.every((v, j) => j === 0 || v > got[j - 1]), "sorted, no repeats");
  assert.deepEqual([...trailSamples(many, null, 4)], [0, 2500, 5000, 7500]);
  assert.ok(fadeLength(4) >= 1 && fadeLength(200) > fadeLength(20));
  assert.match(TRAIL_VS, /gl_VertexID/);  // positions come from the resident texture, per vertex id
});

test("the vis-error mask decodes as numpy's packbits(bitorder='little')", () => {
  // bits 0, 3, 9 and 17 set; n = 18 cuts the padding bits of the last byte
  const bytes = Uint8Array.from([0b00001001, 0b00000010, 0b11111110]);
  assert.deepEqual([...maskToIndices(bytes, 18)], [0, 3, 9, 17]);
  assert.deepEqual([...maskToIndices(new Uint8Array(3), 20)], []);
});

test("neighbour segments: lost under gained under kept, each styled distinguishably", () => {
  const nb = { index: 5, kept: [1, 2], gained: [9], lost: [7] };
  assert.deepEqual(neighborSegments(nb), [
    { kind: "lost", to: 7 }, { kind: "gained", to: 9 }, { kind: "kept", to: 1 }, { kind: "kept", to: 2 }]);
  assert.deepEqual(neighborSegments(null), []);
  assert.deepEqual(LINE_ORDER, ["lost", "gained", "kept"]);
  const looks = LINE_ORDER.map((k) => `${LINE_STYLES[k].color}/${LINE_STYLES[k].dash.join(",")}`);
  assert.equal(new Set(looks).size, 3, "colour and dash differ per kind");
  assert.equal(new Set(LINE_ORDER.map((k) => LINE_STYLES[k].color)).size, 3);
});

function store() {
  const NO = 65535;
  return {
    meta: {}, hasPred: true, n: 3, noClass: NO, epochs: [2, 4, 6], labels: Uint16Array.from([0, 1, NO]),
    pred: [Uint16Array.from([1, 1, 0]), Uint16Array.from([0, 1, 2]), null],
    conf: [Uint8Array.from([255, 51, 0]), Uint8Array.from([128, 255, 10]), null],
    epochReady: (k) => k < 2,
  };
}

test("prediction history: one cell per epoch from the class arrays the view holds", () => {
  const cells = historyCells(store(), 0);
  assert.deepEqual(cells.map((c) => [c.epoch, c.cls, c.wrong]), [[2, 1, true], [4, 0, false], [6, null, false]]);
  assert.equal(cells[0].conf, 1);
  assert.equal(countFlips(cells), 1);
  assert.equal(countFlips(historyCells(store(), 1)), 0);
  assert.deepEqual(historyCells(store(), 2).map((c) => c.wrong), [false, false, false]);  // unlabelled: never wrong
  assert.deepEqual(historyCells({ ...store(), hasPred: false }, 0), []);
  assert.deepEqual(historyCells(store(), 3), []);
});

test("prediction history: epochs the view does not hold (windowed) come from the kernel's answer", () => {
  const kernel = [[9, 0.1], [9, 0.2], [0, 0.75]];  // the view's own arrays win where it holds them
  const cells = historyCells(store(), 0, kernel);
  assert.deepEqual(cells.map((c) => [c.epoch, c.cls, c.conf, c.wrong]), [[2, 1, 1, true], [4, 0, 128 / 255, false], [6, 0, 0.75, false]]);
  assert.equal(countFlips(cells), 1);
  assert.deepEqual(historyCells(store(), 0, [[1, 1], [0, 1], [null, null]])[2].cls, null);  // no predictions: unknown
});

test("events rows: counts, what is not computable and why, the active kind", () => {
  const ev = { status: "ready", epoch: 3, counts: { prediction_flip: 12, became_wrong: 0 },
    not_computable: { confidence_change: "the dynamics have no labels" } };
  assert.deepEqual(Object.keys(EVENT_KINDS), ["prediction_flip", "became_wrong", "became_correct", "confidence_change",
    "significant_movement", "moved_closer", "moved_farther"]);
  const flip = eventRow(ev, "prediction_flip", { event: "prediction_flip", epoch: 3 });
  assert.equal(flip.count, "12");
  assert.ok(flip.enabled && flip.active);
  assert.ok(!eventRow(ev, "became_wrong", null).enabled);
  const nc = eventRow(ev, "confidence_change", null);
  assert.equal(nc.count, "–");
  assert.match(nc.title, /no labels/);
  assert.equal(eventRow({ status: "pending", epoch: 3 }, "prediction_flip", null).count, "…");
  assert.ok(!eventRow(ev, "prediction_flip", { event: "prediction_flip", epoch: 2 }).active, "another epoch's click");
});

test("result groups of similar and why answers", () => {
  const sim = resultGroups({ kind: "similar", index: 4, epoch: 2, metric: "cosine", indices: [8, 1], scores: [0.9, 0.8] });
  assert.match(sim.title, /2 most similar \(cosine\) to #4 at epoch 2/);
  assert.deepEqual(sim.groups, [{ name: "", indices: [8, 1], scores: [0.9, 0.8] }]);
  const why = resultGroups({ kind: "influence", index: 4, target: 1, epochs: [1, 5, 9],
    proponents: { indices: [3], scores: [2.5] }, opponents: { indices: [6, 7], scores: [-1, -0.5] } }, ["cat", "dog"]);
  assert.match(why.title, /why #4 is predicted dog.*epochs 1…9/);
  assert.deepEqual(why.groups.map((g) => [g.name, g.indices]), [["helped", [3]], ["opposed", [6, 7]]]);
});

test("panel host: listeners hear every change before the panels", () => {
  const heard = [];
  const area = { append() {}, classList: { add() {} } };
  const host = new PanelHost({ side: area, bottom: area }, {});
  host.add(() => ({ el: { remove() {} }, update: (ch) => heard.push(`panel:${ch}`) }));
  host.listen((ch) => heard.push(`listener:${ch}`));
  assert.ok(CHANGES.includes("analysis"));
  host.notify("analysis");
  assert.deepEqual(heard, ["listener:analysis", "panel:analysis"]);
  host.destroy();
  heard.length = 0;
  host.notify("time");
  assert.deepEqual(heard, []);
});
