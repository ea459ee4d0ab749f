// Fold the pack's advanced widgets (Face Crop's scale, offset, smoothing, ...) under the node's "Show
// Advanced" menu entry. The node definitions flag them as ComfyUI's own nodes do (`"advanced": true` in the
// input options); frontend 1.27 hides a widget whose `widget.advanced` is set but does not copy the flag
// there from the definition, so this does. Newer frontends that copy it themselves are unaffected.
import { app } from "../../scripts/app.js";
import { wrap } from "./util.js";

export function advancedInputs(nodeData) {
    const inputs = { ...nodeData.input?.required, ...nodeData.input?.optional };
    return Object.keys(inputs).filter((name) => inputs[name]?.[1]?.advanced === true);
}

app.registerExtension({
    name: "ToonTalker.AdvancedWidgets",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (!nodeData.name?.startsWith("ToonTalker")) return;
        const names = advancedInputs(nodeData);
        if (!names.length) return;
        wrap(nodeType.prototype, "onNodeCreated", (node) => {
            for (const w of node.widgets ?? []) {
                if (!names.includes(w.name)) continue;
                w.advanced = true;
                // frontend 1.27 lays out a row for every widget, folded ones too, and grows the node to fit
                // (the Motion Editor's 20 raw sliders: ~760 units with a gap above the preview): folded, none
                w.computeSize = (width) => (node.isWidgetVisible?.(w) ?? true)
                    ? [width, LiteGraph.NODE_WIDGET_HEIGHT] : [0, -4];
            }
            node.setSize?.(node.computeSize());  // drop the room the folded widgets took
        });
    },
});
