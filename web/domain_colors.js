// Colour ToonTalker nodes by domain so graphs read at a glance: real = blue, cartoon = orange,
// mixed routes (r2c / c2r) = purple. Follows the `domain` / `route` widget as it changes.
import { app } from "../../scripts/app.js";

const COLORS = {
    real: { color: "#223a5e", bgcolor: "#2e4d7a" },
    cartoon: { color: "#6b3f12", bgcolor: "#8a5522" },
    mixed: { color: "#4a2a63", bgcolor: "#603a80" },
};

function domainOf(node) {
    const domain = node.widgets?.find((w) => w.name === "domain")?.value;
    if (domain) return domain;
    const route = node.widgets?.find((w) => w.name === "route")?.value;
    if (!route) return null;
    const [driving, source] = route.split("->").map((s) => (s.includes("cartoon") ? "cartoon" : "real"));
    return driving === source ? source : "mixed";
}

export function paint(node) {
    const colors = COLORS[domainOf(node)];
    if (!colors) return;
    node.color = colors.color;
    node.bgcolor = colors.bgcolor;
    node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
    name: "ToonTalker.DomainColors",
    nodeCreated(node) {
        if (!node.type?.startsWith("ToonTalker")) return;
        for (const w of node.widgets ?? []) {
            if (w.name !== "domain" && w.name !== "route") continue;
            const callback = w.callback;
            w.callback = function () {
                const r = callback?.apply(this, arguments);
                paint(node);
                return r;
            };
        }
        paint(node);
    },
    loadedGraphNode(node) {
        if (node.type?.startsWith("ToonTalker")) paint(node);
    },
});
