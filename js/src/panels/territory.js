// Territory panel: how the decision territory is painted under the points -- its opacity (0..1) and its
// extent ("near the samples": only where samples back it; "whole box": the decoder's far field too, faint).
// It sets the widget's territory_opacity / territory_extent traits (ttvis_widget/widget/territory_style.py)
// and shows their values when they change from the kernel.
import { h } from "../dom.js";
import { DEFAULT_OPACITY } from "../territories.js";

/** Factory for the view `v` (a TimeTravelView): listens to the two traits through the view's ModelSync. */
export function territoryPanel(v) {
  return (ctx) => {
    const opacity = h("input", { type: "range", class: "ttvis-territory-opacity", min: "0", max: "1", step: "0.05",
      title: "territory opacity (0: none)", "aria-label": "territory opacity",
      oninput: () => ctx.actions.set({ territory_opacity: parseFloat(opacity.value) }) });
    const extent = h("select", { class: "ttvis-territory-extent", "aria-label": "territory extent",
      title: "paint the territory only where samples back it, or over the whole box (far field faint)",
      onchange: () => ctx.actions.set({ territory_extent: extent.value }) },
    h("option", { value: "support" }, "near the samples"), h("option", { value: "full" }, "whole box"));
    const el = h("div", { class: "ttvis-territory-style" }, h("span", { class: "ttvis-export-label" }, "territory:"),
      h("label", { class: "ttvis-opt" }, "opacity", opacity), extent);
    const show = () => {
      const o = v.sync.get("territory_opacity");
      opacity.value = String(typeof o === "number" ? o : DEFAULT_OPACITY);
      extent.value = v.sync.get("territory_extent") === "full" ? "full" : "support";
    };
    v.sync.on("change:territory_opacity", show);
    v.sync.on("change:territory_extent", show);
    show();
    return { el, area: "bottom" };
  };
}
