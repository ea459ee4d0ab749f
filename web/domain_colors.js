// Colour ToonTalker nodes by domain so graphs read at a glance: real = blue, cartoon = orange,
// mixed routes (r2c / c2r) = purple. Follows the `domain` / `route` widget as it changes.
//
// Hooked per node type in beforeRegisterNodeDef (the node's class is known there): the extension-level
// `nodeCreated` hook runs before frontend 1.27 has set `node.type` on nodes added by hand. The colour is
// re-checked whenever a widget changes and, as a safety net (undo, paste, values set by other extensions),
// before the node is drawn; it is only re-painted when the domain actually changes.
import { app } from "../../scripts/app.js";
import { wrap } from "./util.js";

const COLORS = {
    real: { color: "#223a5e", bgcolor: "#2e4d7a" },
    cartoon: { color: "#6b3f12", bgcolor: "#8a5522" },
    mixed: { color: "#4a2a63", bgcolor: "#603a80" },
};
const WIDGETS = ["domain", "route"];

export function domainOf(node) {
    const domain = node.widgets?.find((w) => w.name === "domain")?.value;
    if (domain) return domain;
    const route = node.widgets?.find((w) => w.name === "route")?.value;
    if (!route) return null;
    const [driving, source] = String(route).split("->").map((s) => (s.includes("cartoon") ? "cartoon" : "real"));
    return driving === source ? source : "mixed";
}

export function paint(node) {
    const key = domainOf(node);
    const colors = COLORS[key];
    if (!colors || node.toontalkerDomain === key) return;
    node.toontalkerDomain = key;
    node.color = colors.color;
    node.bgcolor = colors.bgcolor;
    node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
    name: "ToonTalker.DomainColors",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        const inputs = { ...nodeData.input?.required, ...nodeData.input?.optional };
        if (!nodeData.name?.startsWith("ToonTalker") || !WIDGETS.some((w) => w in inputs)) return;
        const proto = nodeType.prototype;
        wrap(proto, "onNodeCreated", (node) => paint(node));
        wrap(proto, "onConfigure", (node) => {  // a loaded graph: its saved colour counts as unknown
            node.toontalkerDomain = undefined;
            paint(node);
        });
        wrap(proto, "onWidgetChanged", (node, [name]) => {
            if (WIDGETS.includes(name)) paint(node);
        });
        wrap(proto, "onDrawBackground", (node) => paint(node));
    },
});
