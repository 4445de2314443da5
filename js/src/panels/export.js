// Export panel: "PNG", "WebM" and "GIF" buttons under the plot, and this view's side of every export. A button
// asks the kernel ({type: "export_request", kind, rid}); the kernel names the file and asks a view for the bytes
// ({type: "export", id, kind, target, ...}); the view addressed (target = its stream rid) renders them
// (capture.js) and answers {type: "export_data", id, kind, width, height, seq?, last?} + buffers, or
// {type: "export_failed", id, reason}. The kernel then says {type: "export_done", id, ok, path, message}.
import { h } from "../dom.js";
import { captureFrames, recordWebm, stillPng, webmType } from "../capture.js";

const FRAMES_PER_MESSAGE = 16;  // export.py's limit per message
const NOTICE_MS = 8000;

/** Factory for the view `v` (a TimeTravelView): the panel also handles the kernel's export messages. */
export function exportPanel(v) {
  return (ctx) => {
    let busy = false, timer = 0;
    const status = h("span", { class: "ttvis-export-status" });
    const say = (text, warn = false) => {
      status.textContent = text;
      status.classList.toggle("ttvis-status-warn", warn);
      clearTimeout(timer);
      if (text) timer = setTimeout(() => { status.textContent = ""; }, NOTICE_MS);
    };
    const ask = (kind) => {
      if (busy) return say("an export is running…");
      ctx.send({ type: "export_request", kind, rid: v.feed.rid });
      say(`${kind.toUpperCase()}: rendering…`);
    };
    const button = (kind, title) => h("button", { class: `ttvis-export-${kind}`, title, onclick: () => ask(kind) },
      kind.toUpperCase());
    const buttons = [button("png", "save the view as a PNG (2x) in the kernel's working directory"),
      button("webm", "record the training as a WebM video in the kernel's working directory"),
      button("gif", "record the training as a GIF in the kernel's working directory")];
    if (!webmType()) buttons[1].disabled = true;
    const el = h("div", { class: "ttvis-export" }, h("span", { class: "ttvis-export-label" }, "export:"), ...buttons, status);

    async function run(c) {
      if (busy) return ctx.send({ type: "export_failed", id: c.id, reason: "busy" });
      if (!v.renderer || v.error) return ctx.send({ type: "export_failed", id: c.id, reason: "no_webgl" });
      busy = true;
      buttons.forEach((b) => { b.disabled = true; });
      try {
        if (c.kind === "png") {
          const r = await stillPng(v, c.scale, c);
          ctx.send({ type: "export_data", id: c.id, kind: "png", width: r.width, height: r.height }, [r.png]);
        } else if (c.kind === "webm") {
          say(`recording ${c.frames} frames…`);
          const r = await recordWebm(v, c);
          ctx.send({ type: "export_data", id: c.id, kind: "webm", width: r.width, height: r.height }, [r.webm]);
        } else if (c.kind === "frames") {
          say(`capturing ${c.frames} frames…`);
          await captureFrames(v, c, FRAMES_PER_MESSAGE, (batch, seq, last, w, hgt) => ctx.send(
            { type: "export_data", id: c.id, kind: "frames", width: w, height: hgt, seq, last }, batch));
        }
        say("sent to the kernel…");
      } catch (e) {
        ctx.send({ type: "export_failed", id: c.id, reason: e.reason || "failed" });
        say(`export failed: ${e.message}`, true);
      } finally {
        busy = false;
        buttons.forEach((b, i) => { b.disabled = i === 1 && !webmType(); });
      }
    }

    return {
      el,
      area: "bottom",
      /** A kernel message (every view sees them all): act on exports addressed to this view. */
      handle(c) {
        if (!c || typeof c !== "object") return;
        if (c.type === "export" && c.target === v.feed.rid) run(c);
        else if (c.type === "export_done") say(c.message || (c.ok ? "saved" : "failed"), !c.ok);
      },
      get busy() { return busy; },
      destroy() { clearTimeout(timer); },
    };
  };
}
