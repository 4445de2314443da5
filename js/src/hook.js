// The test/debug hook: `canvas.__ttvis`, read by the browser tests and benchmarks to aim at points and to
// wait for frames. Its fields are a contract (docs/CONTRACTS.md, widget section): keep them stable.

export function installHook(v) {
  const toClient = (x, y) => {
    const r = v.canvas.getBoundingClientRect();
    const [lx, ly] = v.camera.toLocal(x, y);
    return [r.left + lx, r.top + ly];
  };
  v.canvas.__ttvis = {
    get time() { return v.timeline.frameTime().time; },
    get requestedTime() { return v.timeline.t; },
    get epoch() { return v.timeline.epochAt(v.timeline.frameTime().time); },
    get ready() { return v.loop.ready && !v.error; },
    get error() { return v.error; },
    get webgl2() { return !!v.gl; },
    get epochsLoaded() { return v.store.epochsLoaded; },
    get nEpochs() { return v.store.nEpochs; },
    get n() { return v.store.n; },
    get done() { return !!v.store.done; },
    get lastFrameMs() { return v.loop.lastFrameMs; },
    /** ms from this view's creation (the widget displayed) to its first frame / to all epochs resident */
    get timings() {
      return { firstFrameMs: v.loop.firstFrameMs, allEpochsMs: v.feed.allEpochsMs, createdMs: v.feed.createdAt,
        phases: { ...v.feed.phases } };
    },
    get frames() { return v.loop.frames; },
    get frameIntervals() { return v.loop.frameIntervals.slice(); },
    get playing() { return v.timeline.playing; },
    get hovered() { return v.hovered; },
    get selection() { return [...v.selection].sort((a, b) => a - b); },
    get pointsDrawn() { return v.loop.pointsDrawn; },
    get territoriesLoaded() { return v.store.territory ? v.store.territory.filter((x) => x).length : 0; },
    get camera() { return { cx: v.camera.cx, cy: v.camera.cy, k: v.camera.k, w: v.camera.w, h: v.camera.h }; },
    get bounds() { return v.store.bounds; },
    /** live and windowed streams (stream.js): epochs held, the window size (0: all), frames that stalled */
    get held() { const s = v.store; return s.loaded ? [...s.loaded.keys()].filter((e) => s.epochReady(e)) : []; },
    get window() { return v.store.window || 0; },
    get stalls() { return v.loop.stalls; },
    get standIns() { return v.loop.standIns; },
    /** the epoch the view waits for while it draws the nearest held one instead (windowed), else null */
    get loading() { return v.loop.loading; },
    get sliderMax() { return Number(v.controls.slider.max); },
    get progress() { return v.model.get("progress") || {}; },
    /** this view's refusals from the kernel, oldest first: [{message, field, reason, at}] */
    get refusals() { return v.refusals.items.map((r) => ({ ...r })); },
    /** what the page could send anyway (the browser is untrusted): lets tests send bad input the real way */
    sendToKernel: (msg, buffers) => v.sync.send(msg, buffers),
    setTraits: (values) => v.sync.set(values),
    dataToClient: toClient,
    clientToData(cx, cy) {
      const r = v.canvas.getBoundingClientRect();
      return v.camera.toData(cx - r.left, cy - r.top);
    },
    positionOf: (i) => v.positionOf(i),
    clientOf(i) { const p = v.positionOf(i); return p ? toClient(p[0], p[1]) : null; },
    isVisible: (i) => !!(v.loop.hidden && !v.loop.hidden[i]),
    /** the debugger: inspected/pinned sample, toggles, neighbours drawn, trails, marks, events, results */
    get debug() { return v.debug.snapshot(); },
  };
}

/** What the hook says once the view is destroyed (tests check `destroyed`). */
export function destroyedHook(canvas) {
  canvas.__ttvis = { ready: false, destroyed: true, time: 0, epochsLoaded: 0, lastFrameMs: 0, dataToClient: () => [NaN, NaN] };
}
