// Territory textures: decodes the received territory PNGs into GPU textures on demand (the ones a frame
// needs, and the next one while playing) and picks the pair of textures a frame cross-fades; and the style
// (opacity, extent) a frame draws them with.

const KEEP = 12;  // territory textures kept on the GPU (LRU; the pair on screen is never evicted)
export const DEFAULT_OPACITY = 0.6;
/** Extent "full": the least alpha kept where the support's alpha is 0, so the decoder's far field shows faint. */
export const FULL_FLOOR = 0.3;

/**
 * {opacity, floor} for the renderer from the traits territory_opacity (0..1) and territory_extent ("support":
 * floor 0, only the supported part is drawn; "full": floor FULL_FLOOR), read through `sync`; `override` (an
 * export's {territory_opacity?, territory_extent?}) takes precedence where it gives a valid value.
 */
export function territoryStyle(sync, override = null) {
  const o = override || {};
  const valid = (x) => typeof x === "number" && Number.isFinite(x) && x >= 0 && x <= 1;
  const opacity = [o.territory_opacity, sync.get("territory_opacity")].find(valid);
  const extent = [o.territory_extent, sync.get("territory_extent")].find((x) => x === "support" || x === "full");
  return { opacity: opacity ?? DEFAULT_OPACITY, floor: extent === "full" ? FULL_FLOOR : 0 };
}

export class TerritoryLoader {
  /** store: DataStore (PNG blobs per epoch index); renderer(): Renderer | null; redraw(): after a decode. */
  constructor(store, renderer, redraw) {
    this.store = store;
    this.renderer = renderer;
    this.redraw = redraw;
    this.decoding = new Set();
    this.disposed = false;
  }

  get available() {
    return this.store.territory.some((x) => x);
  }

  /**
   * The territory to draw between epoch indices e0 and e1 ({k0, k1, frac} for the renderer) or null when
   * none is decoded yet; starts decoding what is missing (and epoch e1 + 1 when `ahead`).
   */
  pick(e0, e1, frac, ahead) {
    const r = this.renderer();
    const want = [e0, e1];
    if (ahead && e1 + 1 < this.store.nEpochs) want.push(e1 + 1);
    for (const k of want) this.ensure(k, [e0, e1]);
    const k0 = r.hasTerritory(e0) ? e0 : r.hasTerritory(e1) ? e1 : this.nearest(e0);
    const k1 = r.hasTerritory(e1) ? e1 : k0;
    return k0 >= 0 ? { k0, k1, frac } : null;
  }

  /** The decoded territory nearest to epoch index k, or -1. */
  nearest(k) {
    let best = -1;
    for (const j of this.renderer().terr.keys()) if (best < 0 || Math.abs(j - k) < Math.abs(best - k)) best = j;
    return best;
  }

  ensure(k, pinned) {
    const blob = this.store.territory[k];
    const r = this.renderer();
    if (!blob || r.hasTerritory(k) || this.decoding.has(k)) return;
    this.decoding.add(k);
    // straight (not premultiplied) alpha: the colour must survive where the support's alpha is 0 ("full" extent)
    createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none" }).then((bm) => {
      this.decoding.delete(k);
      const r2 = this.renderer();
      if (this.disposed || !r2) return;
      r2.setTerritory(k, bm, KEEP, pinned);
      if (bm.close) bm.close();
      this.redraw();
    }).catch(() => this.decoding.delete(k));
  }

  dispose() {
    this.disposed = true;
  }
}
