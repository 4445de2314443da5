// Unit tests of territories.js' territoryStyle: the opacity and extent a frame draws the territory with, from
// the traits or from an export's override, invalid values ignored.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_OPACITY, FULL_FLOOR, territoryStyle } from "../src/territories.js";

const sync = (state) => ({ get: (k) => state[k] });

test("the traits give opacity and floor: support -> 0, full -> FULL_FLOOR", () => {
  assert.deepEqual(territoryStyle(sync({ territory_opacity: 0.25, territory_extent: "support" })), { opacity: 0.25, floor: 0 });
  assert.deepEqual(territoryStyle(sync({ territory_opacity: 0, territory_extent: "full" })), { opacity: 0, floor: FULL_FLOOR });
  assert.ok(FULL_FLOOR > 0 && FULL_FLOOR < 1);
});

test("an export's override wins over the traits, key by key", () => {
  const s = sync({ territory_opacity: 0.6, territory_extent: "support" });
  assert.deepEqual(territoryStyle(s, { territory_opacity: 1, territory_extent: "full" }), { opacity: 1, floor: FULL_FLOOR });
  assert.deepEqual(territoryStyle(s, { territory_extent: "full" }), { opacity: 0.6, floor: FULL_FLOOR });
  assert.deepEqual(territoryStyle(s, { scale: 2 }), { opacity: 0.6, floor: 0 });  // a message without the keys
});

test("invalid values fall back: out-of-range or non-numeric opacity, unknown extent, missing traits", () => {
  const s = sync({ territory_opacity: 0.4, territory_extent: "support" });
  for (const bad of [1.5, -0.1, NaN, "0.5", null, true]) {
    assert.equal(territoryStyle(s, { territory_opacity: bad }).opacity, 0.4, String(bad));
  }
  assert.equal(territoryStyle(s, { territory_extent: "everywhere" }).floor, 0);
  assert.deepEqual(territoryStyle(sync({})), { opacity: DEFAULT_OPACITY, floor: 0 });
});
