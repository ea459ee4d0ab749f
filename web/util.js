// Helpers the pack's editor extensions share (crop_editor, motion_plot, domain_colors, advanced_widgets).
// ComfyUI loads every script in web/ as an extension module; this one registers nothing itself.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

// Run `after(node, args)` after a node prototype's method, keeping the original and its return value.
export function wrap(proto, name, after) {
    const original = proto[name];
    proto[name] = function () {
        const r = original?.apply(this, arguments);
        after(this, arguments);
        return r;
    };
}

// ComfyUI's progress text (the pack's phases: "rendering 40/100") is a DOM widget that grows into all free
// room of its node, i.e. over a drawing area below it, where it would also take the mouse: keep it one box tall.
const PROGRESS_TEXT = "$$node-text-preview";
function capProgressText(node) {
    const w = node.widgets?.find((w) => w.name === PROGRESS_TEXT);
    if (w?.options && !w.options.getMaxHeight) w.options.getMaxHeight = () => w.options.getMinHeight?.() ?? 50;
}

// Once the node has run, its drawing area says what the phases said: drop the progress text box so that it
// neither shifts the drawing nor lies over it (taking the mouse from the crop box or the plot's readout).
export function dropProgressText(node) {
    const i = node.widgets?.findIndex((w) => w.name === PROGRESS_TEXT) ?? -1;
    if (i < 0) return;
    node.widgets[i].onRemove?.();
    node.widgets.splice(i, 1);
    node.setDirtyCanvas?.(true, true);
}

// Make room under the widgets for a drawing area whose height the node keeps in node[key].
export function reserveHeight(proto, key, fallback) {
    const computeSize = proto.computeSize;
    proto.computeSize = function () {
        capProgressText(this);
        const size = computeSize ? computeSize.apply(this, arguments) : fallback;
        return [size[0], size[1] + (this[key] || 0)];
    };
}

// The height the node needs without that drawing area (title, widgets and sockets).
export function heightWithout(node, key) {
    const saved = node[key];
    node[key] = 0;
    const h = node.computeSize()[1];
    node[key] = saved;
    return h;
}

// The node that feeds `node`'s input `name`, when it is of `type`; else null.
export function upstream(node, name, type) {
    const input = node.inputs?.find((i) => i.name === name);
    if (!input || input.link == null) return null;
    const graph = node.graph ?? app.graph;
    const link = graph.links?.[input.link] ?? graph.links?.get?.(input.link);
    const origin = link && graph.getNodeById(link.origin_id);
    return origin?.type === type ? origin : null;
}

// A /view URL for a file in ComfyUI's input, output or temp folder (`extra`: more query, e.g. "&rand=...").
export function viewURL(filename, type = "input", subfolder = "", extra = "") {
    return api.apiURL(`/view?filename=${encodeURIComponent(filename)}&type=${type}` +
        `&subfolder=${encodeURIComponent(subfolder ?? "")}${extra}`);
}
