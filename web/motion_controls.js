// Motion Editor: grey out the named sliders the loaded checkpoint does not offer, with the reason in the
// slider's label and tooltip, and show the warning when one of them was set (the node ignores it). The node
// sends what it measured in its UI output (`toontalker_controls`); the state is kept in the node's properties
// so a saved workflow opens with the same sliders greyed; a greyed slider is set back to 0 (the node ignores it
// anyway, and a disabled widget could not be moved back).
import { app } from "../../scripts/app.js";
import { wrap } from "./util.js";

const EDITOR = "ToonTalkerMotionEditor";
const MARK = " (n/a)";

export function applyControls(node, info) {
    if (!info || !info.measured) return;  // not measured yet: every slider stays live
    const rejected = info.rejected ?? {};
    for (const w of node.widgets ?? []) {
        const why = rejected[w.name];
        const named = why !== undefined || (info.offered ?? []).includes(w.name);
        if (!named) continue;
        w.toontalkerTip ??= w.tooltip ?? null;  // the definition's tooltip, restored when offered again
        w.disabled = why !== undefined;
        if (w.disabled && w.value !== 0) w.value = 0;  // ignored anyway; a greyed slider could not be reset
        w.label = why !== undefined ? w.name + MARK : undefined;
        w.tooltip = why !== undefined ? `Not available for this model: ${why}.` : w.toontalkerTip ?? undefined;
    }
    node.properties = node.properties || {};
    node.properties.toontalker_controls = { offered: info.offered ?? [], rejected, measured: true };
    node.setDirtyCanvas?.(true, true);
}

function warn(text) {
    if (!text) return;
    const toast = app.extensionManager?.toast;
    if (toast?.add) toast.add({ severity: "warn", summary: "ToonTalker Motion Editor", detail: text, life: 8000 });
    else console.warn(`ToonTalker Motion Editor: ${text}`);
}

app.registerExtension({
    name: "ToonTalker.MotionControls",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData.name !== EDITOR) return;
        // the 20 raw sliders fold under Show Advanced and take no row there (advanced_widgets.js)
        wrap(nodeType.prototype, "onExecuted", (node, [message]) => {
            const info = message?.toontalker_controls?.[0];
            if (!info) return;
            applyControls(node, info);
            warn(info.warning);
        });
        wrap(nodeType.prototype, "onConfigure", (node) => applyControls(node, node.properties?.toontalker_controls));
    },
});
