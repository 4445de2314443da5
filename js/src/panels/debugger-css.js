// Styles of the debugger's panels and overlays (events, overlays, sample panel, result list, neighbour-line
// canvas), appended to the view's stylesheet (styles.js); scoped under .ttvis-root like every other rule.

export const DEBUGGER_CSS = `
.ttvis-lines { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
.ttvis-bottom > .ttvis-panel + .ttvis-panel { border-left: 1px solid #e6e6e6; padding-left: 8px; }
.ttvis-bottom > .ttvis-events, .ttvis-bottom > .ttvis-overlays { flex: 0 0 158px; min-width: 0; }
.ttvis-panel-title { font-weight: 600; margin-bottom: 2px; }
.ttvis-panel-sub { color: #666; font-size: 11px; margin-bottom: 2px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ttvis-event { display: flex; align-items: center; gap: 4px; padding: 1px 3px; border-radius: 2px; cursor: pointer; user-select: none; }
.ttvis-event:hover { background: #f0f0f0; }
.ttvis-event.ttvis-event-sub { padding-left: 12px; }
.ttvis-event.ttvis-off { color: #aaa; cursor: default; }
.ttvis-event.ttvis-off:hover { background: none; }
.ttvis-event.ttvis-active { background: #333; color: #fff; }
.ttvis-event-name { flex: 1 1 auto; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ttvis-event-count { font-variant-numeric: tabular-nums; color: inherit; }
.ttvis-focus-label { margin-top: 3px; }
.ttvis-overlay-opt { display: flex; margin-top: 2px; }
.ttvis-overlay-info { color: #666; font-size: 11px; padding-left: 18px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ttvis-overlay-info:empty { display: none; }
.ttvis-line-legend { padding-left: 18px; }
.ttvis-line-item { display: flex; align-items: center; gap: 5px; font-size: 11px; color: #444; }
.ttvis-line-key { display: inline-block; width: 22px; height: 0; border-top-width: 2px; border-top-style: solid; }
.ttvis-line-gained { border-top-style: dashed; }
.ttvis-line-lost { border-top-style: dotted; border-top-width: 3px; }
.ttvis-viserr-key { display: inline-block; width: 9px; height: 9px; border: 2px solid #d9008c; margin-left: 2px; }
.ttvis-bottom > .ttvis-sample { flex: 1 1 360px; min-width: 0; }
.ttvis-sample-empty { color: #888; padding: 4px 2px; }
.ttvis-sample-card { display: flex; gap: 10px; align-items: flex-start; position: relative; }
.ttvis-sample-media img { display: block; width: 84px; height: 84px; object-fit: contain; image-rendering: pixelated;
  background: #eee; border: 1px solid #ddd; }
.ttvis-sample-text { width: 220px; max-height: 84px; overflow: auto; white-space: pre-wrap; background: #f7f7f7;
  border: 1px solid #ddd; padding: 3px; font-size: 11px; }
.ttvis-sample-info { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; gap: 3px; }
.ttvis-sample-title { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ttvis-sample-title .ttvis-swatch { display: inline-block; vertical-align: -1px; margin: 0 3px; }
.ttvis-pinned { color: #777; }
.ttvis-unpin { position: absolute; top: 0; right: 0; min-height: 18px; padding: 0 5px; }
.ttvis-top { display: flex; flex-direction: column; gap: 1px; max-width: 360px; }
.ttvis-top-row { display: flex; align-items: center; gap: 5px; }
.ttvis-top-name { flex: 0 0 70px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ttvis-bar { flex: 1 1 auto; height: 9px; background: #eee; border-radius: 2px; overflow: hidden; display: block; }
.ttvis-bar-fill { display: block; height: 100%; }
.ttvis-top-p { flex: 0 0 34px; text-align: right; font-variant-numeric: tabular-nums; color: #444; }
.ttvis-top-note { color: #888; }
.ttvis-history-label { color: #666; font-size: 11px; margin-top: 2px; }
.ttvis-history { display: flex; height: 16px; gap: 1px; max-width: 100%; }
.ttvis-history-cell { flex: 1 1 0; min-width: 2px; max-width: 28px; cursor: pointer; border-radius: 1px; box-sizing: border-box; }
.ttvis-history-cell.ttvis-wrong { border-bottom: 3px solid #222; }
.ttvis-history-cell.ttvis-current { outline: 2px solid #000; outline-offset: 1px; opacity: 1 !important; }
.ttvis-sample-actions { display: flex; gap: 6px; margin-top: 3px; }
.ttvis-results { margin-top: 6px; border-top: 1px dashed #ddd; padding-top: 4px; }
.ttvis-results-title { color: #333; margin-bottom: 3px; display: flex; gap: 6px; align-items: center; }
.ttvis-results-error .ttvis-results-title { color: #b3261e; }
.ttvis-results-close { min-height: 18px; padding: 0 5px; }
.ttvis-results-group { display: flex; gap: 6px; align-items: flex-start; margin-bottom: 3px; }
.ttvis-results-group-name { flex: 0 0 74px; color: #555; padding-top: 18px; }
.ttvis-results-helped .ttvis-results-group-name { color: #1a7a3f; }
.ttvis-results-opposed .ttvis-results-group-name { color: #a3261e; }
.ttvis-results-list { display: flex; flex-wrap: wrap; gap: 5px; }
.ttvis-result { display: flex; flex-direction: column; align-items: center; width: 60px; cursor: pointer; font-size: 10px;
  border: 1px solid transparent; border-radius: 3px; padding: 1px; }
.ttvis-result:hover { border-color: #bbb; background: #f6f6f6; }
.ttvis-thumb { display: block; width: 52px; height: 52px; object-fit: contain; image-rendering: pixelated; background: #eee; }
.ttvis-thumb-text { overflow: hidden; font-size: 9px; line-height: 1.15; white-space: normal; }
.ttvis-result-index { color: #333; }
.ttvis-result-score { color: #777; font-variant-numeric: tabular-nums; }
`;
