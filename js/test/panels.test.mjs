// Unit tests of the panel host (panels/index.js): mounting by area, change notification, teardown.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CHANGES, PanelHost } from "../src/panels/index.js";

function area() {
  const a = { children: [], classes: new Set() };
  a.append = (el) => { a.children.push(el); el.parent = a; };
  a.classList = { add: (c) => a.classes.add(c) };
  return a;
}

function element() {
  const el = { removed: false };
  el.remove = () => { el.removed = true; };
  return el;
}

test("panels mount into their area (side by default), hear every change in order, and are torn down", () => {
  const areas = { side: area(), bottom: area() };
  const ctx = { state: {}, send: () => {}, actions: {} };
  const heard = [];
  const seen = [];
  const make = (name, extra) => (c) => {
    seen.push(c);
    return { el: element(), update: (ch) => heard.push(`${name}:${ch}`), destroy: () => heard.push(`${name}:destroy`), ...extra };
  };
  const host = new PanelHost(areas, ctx);
  const a = host.add(make("a"));
  const b = host.add(make("b", { area: "bottom" }));
  host.add(() => ({ el: element() }));  // update and destroy are optional
  assert.deepEqual(seen, [ctx, ctx]);
  assert.equal(areas.side.children.length, 2);
  assert.deepEqual(areas.bottom.children, [b.el]);
  assert.ok(areas.bottom.classes.has("ttvis-has-panels"));
  for (const ch of CHANGES) host.notify(ch);
  assert.deepEqual(heard, CHANGES.flatMap((ch) => [`a:${ch}`, `b:${ch}`]));
  heard.length = 0;
  host.destroy();
  assert.deepEqual(heard, ["a:destroy", "b:destroy"]);
  assert.ok(a.el.removed && b.el.removed);
  assert.throws(() => new PanelHost(areas, ctx).add(() => ({ el: element(), area: "top" })), /unknown panel area top/);
});
