// Save Motion / Load Motion: Save Motion shows what it wrote on the node, and every Load Motion's file list
// is refreshed as soon as a Save Motion has run (frontend 1.27 re-reads a combo's options only on "Refresh
// node definitions"). The list is ComfyUI's own /object_info for Load Motion, so it is exactly what the
// server will accept; a Load Motion with no file chosen yet picks the new one.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { reserveHeight } from "./util.js";

const SAVE = "ToonTalkerSaveMotion";
const LOAD = "ToonTalkerLoadMotion";
const LINE_H = 18;

export async function refreshMotionLists(saved) {
    const res = await api.fetchApi(`/object_info/${LOAD}`);
    if (!res.ok) return;
    const files = (await res.json())?.[LOAD]?.input?.required?.motion_file?.[0];
    if (!Array.isArray(files)) return;
    for (const node of app.graph?._nodes ?? []) {
        if (node.type !== LOAD) continue;
        const w = node.widgets?.find((x) => x.name === "motion_file");
        if (!w) continue;
        w.options.values = files;
        if ((!w.value || !files.includes(w.value)) && files.length) {
            w.value = saved && files.includes(saved) ? saved : files[0];
            w.callback?.(w.value);
        }
        node.setDirtyCanvas?.(true, true);
    }
}

function drawNote(node, ctx) {
    const text = node.toontalkerSaved;
    if (!text || node.flags?.collapsed) return;
    ctx.save();
    ctx.font = "12px sans-serif";
    ctx.fillStyle = "#9fdf9f";
    ctx.textBaseline = "middle";
    let shown = text;
    while (shown.length > 4 && ctx.measureText(shown).width > node.size[0] - 16) shown = shown.slice(0, -2);
    if (shown !== text) shown = shown.slice(0, -1) + "…";
    ctx.fillText(shown, 8, node.size[1] - LINE_H / 2 - 2);
    ctx.restore();
}

app.registerExtension({
    name: "ToonTalker.MotionFiles",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData.name === LOAD) {
            const onNodeCreated = nodeType.prototype.onNodeCreated;
            nodeType.prototype.onNodeCreated = function () {
                const r = onNodeCreated?.apply(this, arguments);
                refreshMotionLists().catch(() => {});  // files saved since the page loaded
                return r;
            };
            return;
        }
        if (nodeData.name !== SAVE) return;
        const proto = nodeType.prototype;
        const onExecuted = proto.onExecuted;
        proto.onExecuted = function (message) {
            onExecuted?.apply(this, arguments);
            const text = message?.toontalker_note?.[0];
            if (text) {
                this.toontalkerSaved = text;
                this.toontalkerNoteH = LINE_H;
                const need = this.computeSize()[1];
                const wide = Math.min(640, 16 + 6.6 * text.length);  // 12 px sans-serif: about 6.6 px a character
                if (this.size[1] < need || this.size[0] < wide)
                    this.setSize([Math.max(this.size[0], wide), Math.max(this.size[1], need)]);
                this.setDirtyCanvas(true, true);
            }
            refreshMotionLists(message?.text?.[0]).catch(() => {});
        };
        const onDrawForeground = proto.onDrawForeground;
        proto.onDrawForeground = function (ctx) {
            onDrawForeground?.apply(this, arguments);
            drawNote(this, ctx);
        };
        reserveHeight(proto, "toontalkerNoteH", [240, 80]);
    },
});
