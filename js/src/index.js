// anywidget entry point: one TimeTravelView per rendered view (Jupyter renders the module per widget,
// marimo once per page, so nothing mutable lives at module level except per-model caches in WeakMaps).
import { TimeTravelView } from "./view.js";

function render({ model, el }) {
  const view = new TimeTravelView(model, el);
  return () => view.destroy();
}

export default { render };
