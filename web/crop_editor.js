// Crop-box editor on "Face Crop": after a run the node shows the reference frame with the crop box.
// Drag inside the box to move it, drag its lower-right corner to resize: this writes box_x / box_y /
// box_size (source pixels) and switches box_mode to "manual". "reset box" returns to detection.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE = "ToonTalkerFaceCrop";
const VIEW_H = 220;
const PAD = 8;
const HANDLE = 10;

const widget = (node, name) => node.widgets?.find((w) => w.name === name);

function widgetsHeight(node) {
    const saved = node.toontalkerViewH;
    node.toontalkerViewH = 0;
    const h = node.computeSize()[1];
    node.toontalkerViewH = saved;
    return h;
}

// Where the preview is drawn on the node, and the source-pixel -> node-pixel scale.
function layout(node) {
    const crop = node.toontalkerCrop;
    if (!crop) return null;
    const [iw, ih] = crop.image_size;
    const top = node.size[1] - VIEW_H - PAD / 2;
    const availW = node.size[0] - 2 * PAD, availH = VIEW_H;
    const s = Math.min(availW / iw, availH / ih);
    return { x: PAD + (availW - iw * s) / 2, y: top + (availH - ih * s) / 2, s, iw, ih };
}

function currentBox(node) {
    if (widget(node, "box_mode")?.value === "manual") {
        return [widget(node, "box_x").value, widget(node, "box_y").value, widget(node, "box_size").value];
    }
    return node.toontalkerCrop?.box;
}

function writeBox(node, box) {
    const [x, y, size] = box.map((v) => Math.round(v));
    const set = (name, value) => {
        const w = widget(node, name);
        if (!w) return;
        w.value = value;
        w.callback?.(value);
    };
    set("box_x", x);
    set("box_y", y);
    set("box_size", Math.max(8, size));
    set("box_mode", "manual");
    node.setDirtyCanvas(true, true);
}

export function showCrop(node, crop) {
    node.toontalkerCrop = crop;
    if (crop.preview) {
        const p = crop.preview;
        const img = new Image();
        img.onload = () => node.setDirtyCanvas(true, true);
        img.src = api.apiURL(`/view?filename=${encodeURIComponent(p.filename)}&type=${p.type}` +
            `&subfolder=${encodeURIComponent(p.subfolder ?? "")}&rand=${Math.random()}`);
        node.toontalkerImage = img;
    }
    node.toontalkerViewH = VIEW_H + PAD;
    const need = widgetsHeight(node) + node.toontalkerViewH;
    if (node.size[1] < need) node.setSize([Math.max(node.size[0], 300), need]);
    node.setDirtyCanvas(true, true);
}

function draw(node, ctx) {
    const L = layout(node);
    if (!L || node.flags?.collapsed) return;
    ctx.save();
    ctx.fillStyle = "#111";
    ctx.fillRect(L.x, L.y, L.iw * L.s, L.ih * L.s);
    if (node.toontalkerImage?.complete && node.toontalkerImage.naturalWidth) {
        ctx.drawImage(node.toontalkerImage, L.x, L.y, L.iw * L.s, L.ih * L.s);
    }
    const box = currentBox(node);
    if (box) {
        const [bx, by, bs] = box;
        const manual = widget(node, "box_mode")?.value === "manual";
        ctx.strokeStyle = manual ? "#ffb347" : "#4cff88";
        ctx.lineWidth = 2;
        ctx.strokeRect(L.x + bx * L.s, L.y + by * L.s, bs * L.s, bs * L.s);
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillRect(L.x + (bx + bs) * L.s - HANDLE / 2, L.y + (by + bs) * L.s - HANDLE / 2, HANDLE, HANDLE);
    }
    ctx.restore();
}

function hit(node, pos) {
    const L = layout(node), box = currentBox(node);
    if (!L || !box) return null;
    const [bx, by, bs] = box;
    const px = (pos[0] - L.x) / L.s, py = (pos[1] - L.y) / L.s;
    const corner = Math.abs(pos[0] - (L.x + (bx + bs) * L.s)) <= HANDLE && Math.abs(pos[1] - (L.y + (by + bs) * L.s)) <= HANDLE;
    if (corner) return { mode: "resize", px, py, box: [...box] };
    if (px >= bx && px <= bx + bs && py >= by && py <= by + bs) return { mode: "move", px, py, box: [...box] };
    return null;
}

app.registerExtension({
    name: "ToonTalker.CropEditor",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData.name !== NODE) return;
        const onNodeCreated = nodeType.prototype.onNodeCreated;
        nodeType.prototype.onNodeCreated = function () {
            const r = onNodeCreated?.apply(this, arguments);
            const reset = this.addWidget("button", "reset box (detect)", null, () => {
                const mode = widget(this, "box_mode");
                if (mode) {
                    mode.value = "auto";
                    mode.callback?.("auto");
                }
                this.setDirtyCanvas(true, true);
            }, { serialize: false });
            reset.serialize = false; // a button, not a value: kept out of widgets_values and of the prompt
            return r;
        };
        const onExecuted = nodeType.prototype.onExecuted;
        nodeType.prototype.onExecuted = function (message) {
            onExecuted?.apply(this, arguments);
            const crop = message?.toontalker_crop?.[0];
            if (crop) showCrop(this, crop);
        };
        const onDrawForeground = nodeType.prototype.onDrawForeground;
        nodeType.prototype.onDrawForeground = function (ctx) {
            onDrawForeground?.apply(this, arguments);
            draw(this, ctx);
        };
        const computeSize = nodeType.prototype.computeSize;
        nodeType.prototype.computeSize = function () {
            const size = computeSize ? computeSize.apply(this, arguments) : [300, 80];
            return [size[0], size[1] + (this.toontalkerViewH || 0)];
        };
        const onMouseDown = nodeType.prototype.onMouseDown;
        nodeType.prototype.onMouseDown = function (e, pos) {
            const h = hit(this, pos);
            if (h) {
                this.toontalkerDrag = h;
                return true;  // consume: do not start dragging the node
            }
            return onMouseDown?.apply(this, arguments);
        };
        const onMouseMove = nodeType.prototype.onMouseMove;
        nodeType.prototype.onMouseMove = function (e, pos) {
            const d = this.toontalkerDrag;
            if (!d) return onMouseMove?.apply(this, arguments);
            if (!e.buttons) {  // released outside the node
                this.toontalkerDrag = null;
                return;
            }
            const L = layout(this);
            const px = (pos[0] - L.x) / L.s, py = (pos[1] - L.y) / L.s;
            const [bx, by, bs] = d.box;
            const box = d.mode === "move" ? [bx + px - d.px, by + py - d.py, bs]
                : [bx, by, Math.max(8, bs + Math.max(px - d.px, py - d.py))];
            writeBox(this, box);
            return true;
        };
        const onMouseUp = nodeType.prototype.onMouseUp;
        nodeType.prototype.onMouseUp = function () {
            if (this.toontalkerDrag) {
                this.toontalkerDrag = null;
                return true;
            }
            return onMouseUp?.apply(this, arguments);
        };
    },
});
