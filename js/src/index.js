// anywidget entry point: one TimeTravelView per rendered view (Jupyter renders the module per widget,
// marimo once per page, so nothing mutable lives at module level except per-model caches in WeakMaps).
// A CompareWidget (kind "compare") shares this bundle and renders two views side by side (compare.js).
import { renderCompare } from "./compare.js";
import { TimeTravelView } from "./view.js";

function render({ model, el }) {
  if (model.get("kind") === "compare") return renderCompare({ model, el });
  const view = new TimeTravelView(model, el);
  return () => view.destroy();
}

export default { render };
