// The widget's stylesheet and its delivery. Every rule is under .ttvis-root and sets what it relies on
// (display, sizes, box-sizing, fonts, colours), so the host's own stylesheet (JupyterLab, Notebook 7,
// VS Code, marimo's Tailwind reset) changes nothing we need. Each view carries its own <style> element
// (styleElement) inside its root: it applies wherever the view is mounted, in the document or in a
// shadow root (marimo renders widgets in one; a style in document.head never reaches it), whether or not
// the element is attached yet when anywidget calls render.
import { h } from "./dom.js";
import { DEBUGGER_CSS } from "./panels/debugger-css.js";

export const CSS = `
.ttvis-root { display: block; position: relative; width: 100%; max-width: 100%; min-width: 0; margin: 0;
  font: 12px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #222; background: #fff; text-align: left; letter-spacing: normal; text-transform: none; white-space: normal;
  border: 1px solid #ddd; border-radius: 4px; padding: 6px; box-sizing: border-box; }
.ttvis-root * { box-sizing: border-box; }
.ttvis-root button, .ttvis-root select, .ttvis-root input { font: inherit; color: #222; margin: 0; line-height: normal;
  text-transform: none; letter-spacing: normal; vertical-align: middle; }
.ttvis-root select, .ttvis-root input[type="number"] { border: 1px solid #bbb; border-radius: 3px; background: #fff;
  padding: 1px 3px; height: auto; }
.ttvis-root input[type="checkbox"] { width: auto; height: auto; }
.ttvis-root button { border: 1px solid #bbb; background: #f7f7f7; border-radius: 3px; padding: 2px 7px; cursor: pointer;
  color: #222; height: auto; min-height: 22px; box-shadow: none; }
.ttvis-root button:hover { background: #eee; }
.ttvis-root button.ttvis-active { background: #333; color: #fff; border-color: #333; }
.ttvis-header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; padding: 0 2px 6px; }
.ttvis-title { font-weight: 600; font-size: 13px; }
.ttvis-meta { color: #555; }
.ttvis-status { color: #777; margin-left: auto; font-variant-numeric: tabular-nums; }
.ttvis-status.ttvis-status-warn { color: #b3261e; }
.ttvis-main { display: flex; gap: 6px; align-items: stretch; }
.ttvis-stage { position: relative; flex: 1 1 auto; min-width: 200px; height: 480px; border: 1px solid #e3e3e3; overflow: hidden; }
.ttvis-canvas { position: absolute; inset: 0; width: 100%; height: 100%; display: block; outline: none; touch-action: none; cursor: grab; }
.ttvis-canvas.ttvis-lassoing { cursor: crosshair; }
.ttvis-overlay { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
.ttvis-message { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; text-align: center;
  padding: 20px; color: #555; pointer-events: none; }
.ttvis-loading { position: absolute; top: 6px; left: 50%; transform: translateX(-50%); pointer-events: none; z-index: 2;
  background: rgba(255,248,225,0.95); border: 1px solid #e0c36a; border-radius: 3px; padding: 2px 8px; color: #6b5200; font-size: 12px; }
.ttvis-message.ttvis-error { color: #a11; background: #fff6f6; pointer-events: auto; }
.ttvis-tooltip { position: absolute; pointer-events: none; background: rgba(255,255,255,0.96); border: 1px solid #bbb;
  border-radius: 3px; padding: 4px 6px; box-shadow: 0 1px 4px rgba(0,0,0,0.15); display: none; z-index: 2; max-width: 240px; }
.ttvis-tooltip img { display: block; width: 72px; height: 72px; object-fit: contain; image-rendering: pixelated; background: #eee; margin-bottom: 3px; }
.ttvis-tooltip .ttvis-tip-text { max-height: 90px; overflow: hidden; margin-bottom: 3px; white-space: pre-wrap; }
.ttvis-tooltip .ttvis-tip-row { white-space: nowrap; }
.ttvis-tooltip .ttvis-wrong { color: #b00; font-weight: 600; }
.ttvis-side { flex: 0 0 150px; max-height: 480px; overflow: auto; display: flex; flex-direction: column; gap: 6px; }
.ttvis-bottom { display: none; }
.ttvis-bottom.ttvis-has-panels { display: flex; gap: 8px; flex-wrap: wrap; align-items: flex-start; padding-top: 6px; }
.ttvis-legend-title { font-weight: 600; margin-bottom: 3px; }
.ttvis-legend-item { display: flex; align-items: center; gap: 5px; cursor: pointer; padding: 1px 2px; border-radius: 2px; user-select: none; }
.ttvis-legend-item:hover { background: #f0f0f0; }
.ttvis-legend-item.ttvis-off { opacity: 0.35; }
.ttvis-legend-item.ttvis-off .ttvis-swatch { background: #ccc !important; }
.ttvis-swatch { width: 11px; height: 11px; border-radius: 50%; flex: 0 0 auto; }
.ttvis-legend-name { flex: 1 1 auto; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ttvis-legend-count { color: #888; font-variant-numeric: tabular-nums; }
.ttvis-legend-all { margin-top: 4px; }
.ttvis-legend-note { color: #777; font-size: 11px; }
.ttvis-timebar { display: flex; gap: 6px; align-items: center; padding-top: 6px; }
.ttvis-progress { display: none; align-items: center; gap: 8px; font-size: 12px; color: #333; }
.ttvis-slider { flex: 1 1 auto; min-width: 80px; }
.ttvis-epoch { min-width: 120px; font-variant-numeric: tabular-nums; }
.ttvis-play { min-width: 34px; }
.ttvis-toolbar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; padding-top: 5px; }
.ttvis-opt { display: inline-flex; gap: 3px; align-items: center; }
.ttvis-size { width: 70px; }
.ttvis-find-input { width: 80px; }
.ttvis-selection-info { color: #333; font-weight: 600; }
.ttvis-export, .ttvis-territory-style { display: flex; gap: 5px; align-items: center; flex-wrap: wrap; }
.ttvis-export-label { color: #555; }
.ttvis-export-status { color: #555; margin-left: 4px; }
.ttvis-export-status.ttvis-status-warn { color: #b3261e; }
.ttvis-follower .ttvis-timebar { display: none; }
`;

/** A <style> element holding CSS, to mount inside the view's root. */
export function styleElement() {
  return h("style", { class: "ttvis-styles" }, CSS + DEBUGGER_CSS);
}
