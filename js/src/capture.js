// Pictures and animations of one view, rendered here and sent to the kernel (which names and writes the files:
// ttvis_widget/widget/export.py). A still is the view's own frame (points, territory, trails: whatever the
// frame loop draws) drawn again at `scale` x the view's CSS size, composited with a title and the legend. An
// animation steps the view's OWN time frame by frame (never the wall clock, so a slow machine makes the same
// frames) and encodes them as WebM, or hands each frame over as PNG bytes (GIF, assembled by Pillow).
//
// WebM: WebCodecs' VideoEncoder (VP8) with each frame's timestamp set to i/fps, muxed by webm-muxer, where the
// browser has it: the video is the same on any machine, and a busy encoder makes us wait instead of dropping
// frames. Elsewhere, MediaRecorder on a captureStream(0) canvas with one requestFrame() per frame, paced at
// i/fps of wall time: measured on 2 shared cores with software GL, Chrome's real-time encoder dropped half the
// frames of a 900x480 plot (and all but one of a busier one), which is why it is only the fallback.
import { ArrayBufferTarget, Muxer } from "webm-muxer";

const LEGEND_MAX = 24;  // classes listed in the legend; more are summarized as "+ n more"

/** A 2-D canvas of w x h device pixels. */
function canvas2d(w, h) {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  return c;
}

/** Title (dataset · method · epoch) top left, class legend top right, both on translucent white boxes. */
export function drawOverlay(ctx, view, w, h, scale) {
  const info = view.info, names = info.classes || [], colors = info.colors || [];
  const fs = Math.round(12 * scale), pad = Math.round(6 * scale), line = Math.round(16 * scale);
  ctx.save();
  ctx.font = `${fs}px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif`;
  ctx.textBaseline = "middle";
  const ft = view.timeline.frameTime();
  const epoch = view.timeline.epochAt(ft.time);
  const frac = Math.abs(ft.time - Math.round(ft.time)) > 1e-3 ? ` (t = ${ft.time.toFixed(2)})` : "";
  const title = [info.name, info.method, `epoch ${epoch}${frac}`].filter(Boolean).join(" · ");
  const tw = ctx.measureText(title).width;
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(pad, pad, tw + 2 * pad, line + pad);
  ctx.fillStyle = "#222";
  ctx.fillText(title, 2 * pad, pad + (line + pad) / 2);
  const shown = names.slice(0, LEGEND_MAX);
  if (shown.length) {
    const rows = shown.length + (names.length > shown.length ? 1 : 0);
    const width = Math.max(...shown.map((n) => ctx.measureText(n).width), ctx.measureText("+ 000 more").width);
    const bw = width + line + 3 * pad, bh = rows * line + 2 * pad, x0 = w - bw - pad, y0 = pad;
    ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.fillRect(x0, y0, bw, bh);
    shown.forEach((name, c) => {
      const y = y0 + pad + c * line + line / 2;
      ctx.fillStyle = colors[c] || "#888";
      ctx.beginPath();
      ctx.arc(x0 + pad + line / 3, y, line / 3, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = "#222";
      ctx.fillText(name, x0 + pad + line, y);
    });
    if (rows > shown.length) {
      ctx.fillStyle = "#555";
      ctx.fillText(`+ ${names.length - shown.length} more`, x0 + pad + line, y0 + pad + shown.length * line + line / 2);
    }
  }
  ctx.restore();
}

/**
 * Run fn() with the view's WebGL canvas resized to scale x its CSS size and the frame loop drawing at that
 * pixel ratio; restores the canvas and redraws afterwards. fn receives (w, h) in device pixels.
 */
export async function atScale(view, scale, fn) {
  const cssW = view.camera.w, cssH = view.camera.h;
  const w = Math.max(1, Math.round(cssW * scale)), h = Math.max(1, Math.round(cssH * scale));
  const max = view.renderer.gl.getParameter(view.renderer.gl.MAX_RENDERBUFFER_SIZE);
  if (w > max || h > max) throw Object.assign(new Error(`${w}x${h} exceeds this GPU's ${max} px`), { reason: "too_large" });
  const c = view.canvas, saved = [c.width, c.height];
  c.width = w;
  c.height = h;
  view.loop.dpr = scale;
  try {
    return await fn(w, h);
  } finally {
    view.loop.dpr = null;
    [c.width, c.height] = saved;
    view.requestRender();
  }
}

/** Draw the view now at time t (or its current time) into `out` (2-D canvas of the same size), with overlay. */
async function drawFrame(view, out, scale, t) {
  if (t !== undefined) {
    view.timeline.t = t;
    await heldFor(view);
    await territoriesFor(view);
  }
  if (view.store.window && view.timeline.frameTime().stalled) view.loop.standIns++;
  view.loop.frame(performance.now());
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(view.canvas, 0, 0, out.width, out.height);
  drawOverlay(ctx, view, out.width, out.height, scale);
}

/** Windowed views: slide the window to the frame's time and wait (at most 30 s) until its epochs are held, so an
 * exported frame never shows a stand-in (the nearest held epoch); one that still does is counted (standIns). */
async function heldFor(view) {
  const s = view.store, tl = view.timeline;
  if (!s.window) return;
  const until = performance.now() + 30000;
  while (tl.frameTime().stalled && performance.now() < until) {
    view.feed.follow(tl.t);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Wait (at most 2 s) until the territories of the drawn epoch pair are decoded, so every frame has its own. */
async function territoriesFor(view) {
  const tl = view.timeline, tr = view.territories;
  if (!view.sync.get("show_territory") || !tr.available) return;
  const ft = tl.frameTime();
  tr.pick(ft.e0, ft.e1, ft.frac, false);
  const until = performance.now() + 2000;
  while ((tr.decoding.has(ft.e0) || tr.decoding.has(ft.e1)) && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

function pngBytes(canvas) {
  return new Promise((resolve, reject) => canvas.toBlob(
    (b) => (b ? b.arrayBuffer().then(resolve, reject) : reject(new Error("toBlob failed"))), "image/png"));
}

/**
 * PNG bytes of the view at `scale`: {width, height, png: ArrayBuffer}. `style` ({territory_opacity?,
 * territory_extent?}, from save_png) draws the territory its own way for this picture only.
 */
export async function stillPng(view, scale, style = null) {
  view.loop.territoryOverride = style;
  try {
    return await atScale(view, scale, async (w, h) => {
      const out = canvas2d(w, h);
      await drawFrame(view, out, scale);
      return { width: w, height: h, png: await pngBytes(out) };
    });
  } finally {
    view.loop.territoryOverride = null;
  }
}

/** Timeline positions of `frames` frames from epoch index k0 to k1 (both included). */
export function frameTimes(k0, k1, frames) {
  const n = Math.max(2, frames);
  return Array.from({ length: n }, (_, i) => k0 + ((k1 - k0) * i) / (n - 1));
}

export function webmType() {
  if (typeof VideoEncoder !== "undefined" && typeof VideoFrame !== "undefined") return "webcodecs";
  if (typeof MediaRecorder === "undefined" || !HTMLCanvasElement.prototype.captureStream) return null;
  return ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm"].find((t) => MediaRecorder.isTypeSupported(t)) || null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sleepUntil = (ms) => sleep(Math.max(0, ms - performance.now()));

/**
 * Record the view from epoch index k0 to k1 in `frames` frames at `fps` (scale 1, the view's CSS size; even
 * sides for the encoder). Frame i shows time frameTimes(...)[i] and lasts 1/fps. Returns {width, height,
 * frames, webm: ArrayBuffer}. The view's own time and playback are restored afterwards.
 */
export async function recordWebm(view, { k0, k1, frames, fps }) {
  const type = webmType();
  if (!type) throw Object.assign(new Error("no WebM encoder in this browser"), { reason: "no_mediarecorder" });
  return withTimeRestored(view, () => atScale(view, 1, async (w0, h0) => {
    const w = w0 - (w0 % 2), h = h0 - (h0 % 2);
    const out = canvas2d(w, h);
    const times = frameTimes(k0, k1, frames);
    const webm = type === "webcodecs" ? await encodeWebCodecs(view, out, times, fps)
      : await encodeMediaRecorder(view, out, times, fps, type);
    return { width: w, height: h, frames: times.length, webm };
  }));
}

async function encodeWebCodecs(view, out, times, fps) {
  const { width, height } = out;
  const muxer = new Muxer({ target: new ArrayBufferTarget(), video: { codec: "V_VP8", width, height, frameRate: fps } });
  let failure = null;
  const enc = new VideoEncoder({ output: (chunk, meta) => muxer.addVideoChunk(chunk, meta), error: (e) => { failure = e; } });
  enc.configure({ codec: "vp8", width, height, bitrate: 4e6, framerate: fps });
  const us = 1e6 / fps;
  for (let i = 0; i < times.length && !failure; i++) {
    await drawFrame(view, out, 1, times[i]);
    const frame = new VideoFrame(out, { timestamp: Math.round(i * us), duration: Math.round(us) });
    enc.encode(frame, { keyFrame: i % (2 * fps) === 0 });
    frame.close();
    while (enc.encodeQueueSize > 2 && !failure) await sleep(2);  // back-pressure: wait, never drop
  }
  if (!failure) await enc.flush();
  enc.close();
  if (failure) throw failure;
  muxer.finalize();
  return muxer.target.buffer;
}

async function encodeMediaRecorder(view, out, times, fps, type) {
  const stream = out.captureStream(0);
  const track = stream.getVideoTracks()[0];
  const rec = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: 4e6 });
  const chunks = [];
  rec.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
  const stopped = new Promise((r) => { rec.onstop = r; });
  await drawFrame(view, out, 1, times[0]);
  rec.start();
  const start = performance.now(), period = 1000 / fps;
  for (let i = 0; i < times.length; i++) {
    if (i > 0) await drawFrame(view, out, 1, times[i]);
    await sleepUntil(start + i * period);
    track.requestFrame();
  }
  await sleepUntil(start + times.length * period);
  rec.stop();
  await stopped;
  track.stop();
  return new Blob(chunks, { type }).arrayBuffer();
}

/** The same frames as PNG bytes, handed to onFrames(batch, seq, last) `perMessage` at a time (GIF). */
export async function captureFrames(view, { k0, k1, frames }, perMessage, onFrames) {
  return withTimeRestored(view, () => atScale(view, 1, async (w, h) => {
    const out = canvas2d(w, h);
    const times = frameTimes(k0, k1, frames);
    let batch = [], seq = 0;
    for (let i = 0; i < times.length; i++) {
      await drawFrame(view, out, 1, times[i]);
      batch.push(await pngBytes(out));
      if (batch.length === perMessage || i === times.length - 1) {
        onFrames(batch, seq, i === times.length - 1, w, h);
        seq += batch.length;
        batch = [];
      }
    }
    return { width: w, height: h, frames: times.length };
  }));
}

async function withTimeRestored(view, fn) {
  const tl = view.timeline, t = tl.t, playing = tl.playing;
  if (playing) view.setPlaying(false, false);
  try {
    return await fn();
  } finally {
    tl.t = t;
    if (playing) view.setPlaying(true, false);
    view.afterTimeChange();
  }
}
