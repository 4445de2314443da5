// Per-point flags for one epoch: the flag and mark bits (the ONE definition; shaders.js takes its GLSL
// constants from here) and a pure function that fills the meta attribute, the hidden mask and class counts.

/** Bits of the low byte of a point's meta word (the high byte is its confidence, 0..255). */
export const FLAG = Object.freeze({ HIDDEN: 1, SELECTED: 2, WRONG: 4, FLIP: 8, NOCONF: 16 });

/** Bits of the `marks` uniform: which per-point marks the user switched on. */
export const MARK = Object.freeze({ ERRORS: 1, FLIPS: 2 });

/** GLSL `const uint` declarations of FLAG and MARK, pasted into the point shader. */
export const FLAG_GLSL = [
  ...Object.entries(FLAG).map(([k, v]) => `const uint ${k} = ${v}u;`),
  ...Object.entries(MARK).map(([k, v]) => `const int MARK_${k} = ${v};`),
].join("\n");

/**
 * Flags, metadata and visible-class counts of every point at one epoch. Pure: reads `src`, writes only the
 * two output arrays it is given, returns the counts.
 *
 * src: {n, noClass, labels (Uint16Array [n]), split (Uint8Array [n], 1 = test), pred, prev, conf (this
 *   epoch's predicted class / the previous epoch's / confidence 0..255; null when not recorded),
 *   flips (bool: prev is a real previous epoch), filters ({labels, predictions, split, correctness}),
 *   selection (Set of indices), colorBy ("label" | "prediction"), nClasses}
 * meta: Uint16Array [4n] <- label, prediction, previous prediction, flags | confidence << 8
 * hidden: Uint8Array [n] <- 1 where a filter hides the point
 * returns Uint32Array [max(nClasses, 1)]: visible points per class of the colouring attribute.
 */
export function computeFlags(src, meta, hidden) {
  const { n, noClass: NO, labels, split, pred, prev, conf, flips, selection: sel } = src;
  const f = src.filters || {};
  const labAllowed = f.labels ? new Set(f.labels) : null;
  const predAllowed = f.predictions && pred ? new Set(f.predictions) : null;
  const splitWant = f.split === "train" ? 0 : f.split === "test" ? 1 : -1;
  const corr = pred ? f.correctness || "all" : "all";
  const byPred = src.colorBy === "prediction";
  const counts = new Uint32Array(Math.max(src.nClasses || 0, 1));
  for (let i = 0; i < n; i++) {
    const lab = labels[i];
    const p = pred ? pred[i] : NO;
    const wrong = pred && lab !== NO && p !== lab;
    const hide = (splitWant >= 0 && split[i] !== splitWant)
      || (labAllowed && !labAllowed.has(lab))
      || (predAllowed && !predAllowed.has(p))
      || (corr === "correct" && (wrong || lab === NO))
      || (corr === "incorrect" && !wrong);
    let flags = hide ? FLAG.HIDDEN : 0;
    if (sel.has(i)) flags |= FLAG.SELECTED;
    if (wrong) flags |= FLAG.WRONG;
    if (pred && flips && prev[i] !== p) flags |= FLAG.FLIP;
    if (!conf) flags |= FLAG.NOCONF;
    hidden[i] = hide ? 1 : 0;
    meta[4 * i] = lab;
    meta[4 * i + 1] = p;
    meta[4 * i + 2] = prev ? prev[i] : NO;
    meta[4 * i + 3] = flags | ((conf ? conf[i] : 255) << 8);
    if (!hide) {
      const c = byPred ? p : lab;
      if (c < counts.length) counts[c]++;
    }
  }
  return counts;
}
