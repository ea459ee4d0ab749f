// Motion plot on "Encode Driving Motion": per-frame distance of each driving code from the reference
// frame's, with the reference frame marked, axes (distance, frame number) and a readout of the frame under
// the pointer. The series comes from the node's UI output
// (`toontalker_motion`); a "Canonical Motion Transfer" that runs later redraws it with its own reference.
import { app } from "../../scripts/app.js";
import { dropProgressText, heightWithout, reserveHeight, upstream } from "./util.js";

const ENCODE = "ToonTalkerEncodeDrivingMotion";
const TRANSFER = "ToonTalkerCanonicalTransfer";
const PLOT_H = 150;   // node pixels: readable at the editor's usual zoom
const PAD = 8;
const AXIS_L = 40;    // room for the y labels
const AXIS_B = 30;    // room for the x labels and the caption

const widgetsBottom = (node) => heightWithout(node, "toontalkerPlotH");  // the node without the plot

function setSeries(node, series) {
    if (!series || !Array.isArray(series.magnitude)) return;
    node.properties = node.properties || {};
    node.properties.toontalker_motion = { magnitude: series.magnitude, reference: series.reference ?? 0 };
    node.toontalkerPlotH = PLOT_H + PAD;
    const need = widgetsBottom(node) + node.toontalkerPlotH;
    if (node.size[1] < need) node.setSize([Math.max(node.size[0], 320), need]);
    node.setDirtyCanvas(true, true);
}

// The plot's frame on the node: x0/y0 top-left of the data area, w/h its size.
function plotArea(node) {
    const top = node.size[1] - PLOT_H - PAD / 2;
    return { bx: PAD, by: top, bw: node.size[0] - 2 * PAD, x0: PAD + AXIS_L, y0: top + 8,
             w: node.size[0] - 2 * PAD - AXIS_L - 8, h: PLOT_H - 8 - AXIS_B };
}

const xOf = (A, i, n) => A.x0 + (n === 1 ? A.w / 2 : (i / (n - 1)) * A.w);

function frameAt(node, pos) {
    const n = node.properties?.toontalker_motion?.magnitude?.length;
    if (!n || node.flags?.collapsed) return null;
    const A = plotArea(node);
    if (pos[0] < A.x0 - 4 || pos[0] > A.x0 + A.w + 4 || pos[1] < A.y0 || pos[1] > A.y0 + A.h + AXIS_B) return null;
    return n === 1 ? 0 : Math.round(Math.min(Math.max((pos[0] - A.x0) / A.w, 0), 1) * (n - 1));
}

function niceStep(range, ticks) {
    const raw = range / ticks, mag = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw);
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

export function drawMotionPlot(node, ctx) {
    const series = node.properties?.toontalker_motion;
    if (!series || !series.magnitude?.length || node.flags?.collapsed) return;
    const values = series.magnitude, n = values.length;
    const A = plotArea(node);
    const max = Math.max(...values, 1e-6);
    const yOf = (v) => A.y0 + A.h - (v / max) * A.h;
    ctx.save();
    ctx.fillStyle = "rgba(0,0,0,0.35)";
    ctx.fillRect(A.bx, A.by, A.bw, PLOT_H);
    ctx.font = "12px sans-serif";
    ctx.lineWidth = 1;
    // y axis: distance from the reference frame's code, with nice ticks
    ctx.strokeStyle = "#777";
    ctx.fillStyle = "#bbb";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const ys = niceStep(max, 3);
    for (let v = 0; v <= max + 1e-9; v += ys) {
        const y = yOf(v);
        ctx.globalAlpha = 0.35;
        ctx.beginPath(); ctx.moveTo(A.x0, y); ctx.lineTo(A.x0 + A.w, y); ctx.stroke();
        ctx.globalAlpha = 1;
        ctx.fillText(fmt(v), A.x0 - 5, y);
    }
    // x axis: frame numbers
    ctx.beginPath(); ctx.moveTo(A.x0, A.y0); ctx.lineTo(A.x0, A.y0 + A.h); ctx.lineTo(A.x0 + A.w, A.y0 + A.h);
    ctx.stroke();
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xs = n > 1 ? Math.max(1, niceStep(n - 1, Math.max(2, Math.floor(A.w / 60)))) : 1;
    for (let i = 0; i < n; i += xs) {
        const x = xOf(A, i, n);
        ctx.beginPath(); ctx.moveTo(x, A.y0 + A.h); ctx.lineTo(x, A.y0 + A.h + 4); ctx.stroke();
        ctx.fillText(String(i), x, A.y0 + A.h + 5);
    }
    ctx.textAlign = "left";
    ctx.fillStyle = "#999";
    ctx.fillText("frame", A.x0 + A.w - 34, A.y0 + A.h + 17);
    // the series and the reference frame
    ctx.strokeStyle = "#5fd0ff";
    ctx.lineWidth = 2;
    ctx.beginPath();
    values.forEach((v, i) => (i === 0 ? ctx.moveTo(xOf(A, i, n), yOf(v)) : ctx.lineTo(xOf(A, i, n), yOf(v))));
    ctx.stroke();
    const ref = Math.min(Math.max(series.reference, 0), n - 1);
    ctx.strokeStyle = "#ffb347";
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 3]);
    ctx.beginPath(); ctx.moveTo(xOf(A, ref, n), A.y0); ctx.lineTo(xOf(A, ref, n), A.y0 + A.h); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#ddd";
    ctx.textBaseline = "top";
    ctx.fillText(`motion vs ref frame ${ref} (${n} frames)`, A.x0 + 4, A.y0 + A.h + 17);
    // hover readout
    const hover = node.toontalkerHover;
    if (hover != null && hover < n) {
        const x = xOf(A, hover, n), y = yOf(values[hover]);
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(x, A.y0); ctx.lineTo(x, A.y0 + A.h); ctx.stroke();
        ctx.fillStyle = "#fff";
        ctx.beginPath(); ctx.arc(x, y, 3.5, 0, 2 * Math.PI); ctx.fill();
        const label = `frame ${hover}: ${fmt(values[hover])}` + (hover === ref ? " (ref)" : "");
        const tw = ctx.measureText(label).width + 10;
        const lx = Math.min(Math.max(x - tw / 2, A.bx), A.bx + A.bw - tw);
        ctx.fillStyle = "rgba(20,20,20,0.9)";
        ctx.fillRect(lx, A.y0, tw, 18);
        ctx.fillStyle = "#fff";
        ctx.textAlign = "left";
        ctx.textBaseline = "middle";
        ctx.fillText(label, lx + 5, A.y0 + 9);
    }
    ctx.restore();
}

const upstreamEncoder = (node) => upstream(node, "motion", ENCODE);

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
            if (target) {
                dropProgressText(target);
                setSeries(target, series);
            }
        };
        if (nodeData.name !== ENCODE) return;
        const onDrawForeground = nodeType.prototype.onDrawForeground;
        nodeType.prototype.onDrawForeground = function (ctx) {
            onDrawForeground?.apply(this, arguments);
            drawMotionPlot(this, ctx);
        };
        reserveHeight(nodeType.prototype, "toontalkerPlotH", [240, 80]);
        const onMouseMove = nodeType.prototype.onMouseMove;
        nodeType.prototype.onMouseMove = function (e, pos) {
            const r = onMouseMove?.apply(this, arguments);
            const frame = frameAt(this, pos);
            if (frame !== this.toontalkerHover) {
                this.toontalkerHover = frame;
                this.setDirtyCanvas(true, false);
            }
            return r;
        };
        const onMouseLeave = nodeType.prototype.onMouseLeave;
        nodeType.prototype.onMouseLeave = function () {
            onMouseLeave?.apply(this, arguments);
            if (this.toontalkerHover != null) {
                this.toontalkerHover = null;
                this.setDirtyCanvas(true, false);
            }
        };
        const onConfigure = nodeType.prototype.onConfigure;
        nodeType.prototype.onConfigure = function () {
            onConfigure?.apply(this, arguments);
            if (this.properties?.toontalker_motion) this.toontalkerPlotH = PLOT_H + PAD;
        };
    },
});
