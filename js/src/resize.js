// Sizing: keeps the canvas' backing store, the lasso overlay and the camera in step with the stage's CSS
// size and the device pixel ratio (zooming the page or moving the window to another screen changes it).

/** Observe `stage`; on every size or pixel-ratio change call onResize(w, h, dpr). Returns a disposer. */
export function observeSize(stage, onResize) {
  const resize = () => {
    const w = stage.clientWidth, h = stage.clientHeight;
    if (w && h) onResize(w, h, window.devicePixelRatio || 1);
  };
  const ro = new ResizeObserver(resize);
  ro.observe(stage);
  let undoMq = null;
  const watchDpr = () => {
    const q = window.matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    const fn = () => { resize(); watchDpr(); };
    q.addEventListener("change", fn, { once: true });
    undoMq = () => q.removeEventListener("change", fn);
  };
  watchDpr();
  resize();
  return () => {
    ro.disconnect();
    if (undoMq) undoMq();
  };
}
