// Motion plot on "Encode Driving Motion": per-frame distance of each driving code from the reference
// frame's, with the reference frame marked. The series comes from the node's UI output
// (`toontalker_motion`); a "Canonical Motion Transfer" that runs later redraws it with its own reference.
import { app } from "../../scripts/app.js";

const ENCODE = "ToonTalkerEncodeDrivingMotion";
const TRANSFER = "ToonTalkerCanonicalTransfer";
const PLOT_H = 90;
const PAD = 8;

function widgetsBottom(node) {
    // Height the node needs without the plot (title + widgets + sockets).
    const saved = node.toontalkerPlotH;
    node.toontalkerPlotH = 0;
    const h = node.computeSize()[1];
    node.toontalkerPlotH = saved;
    return h;
}

function setSeries(node, series) {
    if (!series || !Array.isArray(series.magnitude)) return;
    node.properties = node.properties || {};
    node.properties.toontalker_motion = { magnitude: series.magnitude, reference: series.reference ?? 0 };
    node.toontalkerPlotH = PLOT_H + PAD;
    const need = widgetsBottom(node) + node.toontalkerPlotH;
    if (node.size[1] < need) node.setSize([Math.max(node.size[0], 240), need]);
    node.setDirtyCanvas(true, true);
}

export function drawMotionPlot(node, ctx) {
    const series = node.properties?.toontalker_motion;
    if (!series || !series.magnitude?.length || node.flags?.collapsed) return;
    const values = series.magnitude;
    const x0 = PAD, w = node.size[0] - 2 * PAD;
    const y0 = node.size[1] - PLOT_H - PAD / 2, h = PLOT_H - 14;
    const max = Math.max(...values, 1e-6);
    ctx.save();
    ctx.fillStyle = "rgba(0,0,0,0.35)";
    ctx.fillRect(x0, y0, w, PLOT_H);
    ctx.strokeStyle = "#5fd0ff";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, i) => {
        const x = x0 + (values.length === 1 ? w / 2 : (i / (values.length - 1)) * w);
        const y = y0 + 4 + h - (v / max) * h;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    const ref = Math.min(Math.max(series.reference, 0), values.length - 1);
    const rx = x0 + (values.length === 1 ? w / 2 : (ref / (values.length - 1)) * w);
    ctx.strokeStyle = "#ffb347";
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(rx, y0 + 2);
    ctx.lineTo(rx, y0 + h + 4);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#ddd";
    ctx.font = "10px sans-serif";
    const peak = values.indexOf(max);
    ctx.fillText(`motion (ref ${ref}, peak ${peak}, ${values.length} frames)`, x0 + 4, y0 + PLOT_H - 3);
    ctx.restore();
}

function upstreamEncoder(node) {
    const input = node.inputs?.find((i) => i.name === "motion");
    if (!input || input.link == null) return null;
    const link = app.graph.links[input.link] ?? app.graph.links.get?.(input.link);
    if (!link) return null;
    const origin = app.graph.getNodeById(link.origin_id);
    return origin?.type === ENCODE ? origin : null;
}

app.registerExtension({
    name: "ToonTalker.MotionPlot",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData.name !== ENCODE && nodeData.name !== TRANSFER) return;
        const onExecuted = nodeType.prototype.onExecuted;
        nodeType.prototype.onExecuted = function (message) {
            onExecuted?.apply(this, arguments);
            const series = message?.toontalker_motion?.[0];
            if (!series) return;
            const target = nodeData.name === ENCODE ? this : upstreamEncoder(this);
            if (target) setSeries(target, series);
        };
        if (nodeData.name !== ENCODE) return;
        const onDrawForeground = nodeType.prototype.onDrawForeground;
        nodeType.prototype.onDrawForeground = function (ctx) {
            onDrawForeground?.apply(this, arguments);
            drawMotionPlot(this, ctx);
        };
        const computeSize = nodeType.prototype.computeSize;
        nodeType.prototype.computeSize = function () {
            const size = computeSize ? computeSize.apply(this, arguments) : [240, 80];
            return [size[0], size[1] + (this.toontalkerPlotH || 0)];
        };
        const onConfigure = nodeType.prototype.onConfigure;
        nodeType.prototype.onConfigure = function () {
            onConfigure?.apply(this, arguments);
            if (this.properties?.toontalker_motion) this.toontalkerPlotH = PLOT_H + PAD;
        };
    },
});
