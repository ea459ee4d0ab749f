// Crop-box editor on "Face Crop": shows the input image with the crop box on the node. Drag inside the box to
// move it, drag its lower-right handle to resize, or press elsewhere on the image and drag to draw a new box:
// this writes box_x / box_y / box_size (image pixels) and switches box_mode to "manual". "reset box (detect)" returns to detection and clears the box fields.
//
// The image shows as soon as the node's input is a Load Image (before any run, so a box can be drawn after
// "no face found"); after a run the node also has the reference frame of a video input and the detected box.
// Box colours: green = detected, orange = manual, dashed grey = a starting box (nothing detected yet).
// Edited boxes stay inside the image, so the handle is always on the node.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { dropProgressText, heightWithout, reserveHeight, upstream, viewURL } from "./util.js";

const NODE = "ToonTalkerFaceCrop";
const VIEW_H = 220;
const PAD = 8;
const HANDLE = 12;
const MIN_BOX = 8;
const BOX_FIELDS = ["box_x", "box_y", "box_size"];

const widget = (node, name) => node.widgets?.find((w) => w.name === name);
const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

const widgetsHeight = (node) => heightWithout(node, "toontalkerViewH");

// ---------------------------------------------------------------------------------------- what to show

const upstreamLoadImage = (node) => upstream(node, "image", "LoadImage");

// "sub/name.png [input]" (the Load Image widget's value format) -> a /view URL.
function widgetValueURL(value) {
    const m = /^(.*?)(?: \[(input|output|temp)\])?$/.exec(String(value));
    const path = m[1], type = m[2] ?? "input";
    const cut = path.lastIndexOf("/");
    return cut >= 0 ? viewURL(path.slice(cut + 1), type, path.slice(0, cut)) : viewURL(path, type);
}

// The Load Image feeding the node (current even before a run): its preview element, or one we load.
function inputImage(node) {
    const load = upstreamLoadImage(node);
    const value = load && widget(load, "image")?.value;
    if (!value) return null;
    const shown = load.imgs?.[0];
    if (shown?.complete && shown.naturalWidth) return shown;
    if (node.toontalkerInput?.value !== value) {
        const img = new Image();
        img.onload = () => node.setDirtyCanvas(true, true);
        img.src = widgetValueURL(value);
        node.toontalkerInput = { value, img };
    }
    const img = node.toontalkerInput.img;
    return img.complete && img.naturalWidth ? img : null;
}

// -> { img, iw, ih, detected } or null. A run's result counts when it is of the same-sized image.
function source(node) {
    const crop = node.toontalkerCrop;
    const img = inputImage(node);
    if (img) {
        const iw = img.naturalWidth, ih = img.naturalHeight;
        const same = crop && crop.image_size[0] === iw && crop.image_size[1] === ih;
        return { img, iw, ih, detected: same && crop.auto ? crop.box : null };
    }
    if (!crop) return null;
    const ok = node.toontalkerImage?.complete && node.toontalkerImage.naturalWidth;
    return { img: ok ? node.toontalkerImage : null, iw: crop.image_size[0], ih: crop.image_size[1],
             detected: crop.auto ? crop.box : null };
}

function startBox(iw, ih) {  // centred, 60 % of the short side: a box to drag when nothing was detected
    const s = Math.round(0.6 * Math.min(iw, ih));
    return [Math.round((iw - s) / 2), Math.round((ih - s) / 2), s];
}

// -> { box: [x, y, size], kind: "manual" | "detected" | "start" }
function currentBox(node, src) {
    if (widget(node, "box_mode")?.value === "manual") {
        return { box: BOX_FIELDS.map((n) => Number(widget(node, n)?.value ?? 0)), kind: "manual" };
    }
    if (src.detected) return { box: src.detected, kind: "detected" };
    return { box: startBox(src.iw, src.ih), kind: "start" };
}

// ---------------------------------------------------------------------------------------- layout

function ensureView(node) {
    if (node.toontalkerViewH) return;
    node.toontalkerViewH = VIEW_H + PAD;
    const need = widgetsHeight(node) + node.toontalkerViewH;
    if (node.size[1] < need) node.setSize([Math.max(node.size[0], 300), need]);
}

// Where the image is drawn on the node, and the image-pixel -> node-pixel scale.
function layout(node, src) {
    if (!src) return null;
    const top = node.size[1] - VIEW_H - PAD / 2;
    const availW = node.size[0] - 2 * PAD, availH = VIEW_H;
    const s = Math.min(availW / src.iw, availH / src.ih);
    return { x: PAD + (availW - src.iw * s) / 2, y: top + (availH - src.ih * s) / 2, s, iw: src.iw, ih: src.ih };
}

// Keep a box inside the image: side at most the short image side, corner inside.
export function clampBox([x, y, size], iw, ih) {
    const s = clamp(size, Math.min(MIN_BOX, iw, ih), Math.min(iw, ih));
    return [clamp(x, 0, iw - s), clamp(y, 0, ih - s), s];
}

// The resize handle: the box's lower-right corner, kept on the image (detected boxes may extend past it).
function handlePos(L, [bx, by, bs]) {
    return [L.x + clamp(bx + bs, 0, L.iw) * L.s, L.y + clamp(by + bs, 0, L.ih) * L.s];
}

function writeBox(node, box, L) {
    const [x, y, size] = clampBox(box, L.iw, L.ih).map((v) => Math.round(v));
    const set = (name, value) => {
        const w = widget(node, name);
        if (!w) return;
        w.value = value;
        w.callback?.(value);
    };
    set("box_x", x);
    set("box_y", y);
    set("box_size", size);
    set("box_mode", "manual");
    node.setDirtyCanvas(true, true);
}

export function showCrop(node, crop) {
    crop.auto = widget(node, "box_mode")?.value !== "manual";  // the box the run found, not one it was given
    node.toontalkerCrop = crop;
    if (crop.preview) {
        const p = crop.preview;
        const img = new Image();
        img.onload = () => node.setDirtyCanvas(true, true);
        img.src = viewURL(p.filename, p.type, p.subfolder, `&rand=${Math.random()}`);
        node.toontalkerImage = img;
    }
    ensureView(node);
    node.setDirtyCanvas(true, true);
}

function draw(node, ctx) {
    if (node.flags?.collapsed) return;
    const src = source(node);
    if (!src) return;
    ensureView(node);
    const L = layout(node, src);
    const W = L.iw * L.s, H = L.ih * L.s;
    const { box, kind } = currentBox(node, src);
    const [bx, by, bs] = box;
    ctx.save();
    ctx.fillStyle = "#111";
    ctx.fillRect(L.x, L.y, W, H);
    if (src.img) ctx.drawImage(src.img, L.x, L.y, W, H);
    ctx.beginPath();
    ctx.rect(L.x, L.y, W, H);
    ctx.clip();  // a detected box larger than the image is cut at its edge, never drawn over the widgets
    const color = { manual: "#ffb347", detected: "#4cff88", start: "#c8c8c8" }[kind];
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    if (kind === "start") ctx.setLineDash([6, 4]);
    ctx.strokeRect(L.x + bx * L.s, L.y + by * L.s, bs * L.s, bs * L.s);
    ctx.setLineDash([]);
    const [hx, hy] = handlePos(L, box);
    ctx.fillStyle = color;
    ctx.fillRect(hx - HANDLE / 2, hy - HANDLE / 2, HANDLE, HANDLE);
    if (kind === "start") {
        ctx.fillStyle = "rgba(0,0,0,0.6)";
        ctx.fillRect(L.x, L.y + H - 18, W, 18);
        ctx.fillStyle = "#eee";
        ctx.font = "12px sans-serif";
        const hints = node.toontalkerNoFace
            ? ["no face found: drag the box onto the face", "drag the box onto the face", "drag the box"]
            : ["drag the box onto the face, or run to detect", "drag the box onto the face", "drag the box"];
        const text = hints.find((t) => ctx.measureText(t).width <= W - 8) ?? "";
        ctx.fillText(text, L.x + 4, L.y + H - 5);
    }
    ctx.restore();
}

function hit(node, pos) {
    const src = source(node);
    if (!src || node.flags?.collapsed) return null;
    const L = layout(node, src), { box } = currentBox(node, src);
    const [bx, by, bs] = box;
    const px = (pos[0] - L.x) / L.s, py = (pos[1] - L.y) / L.s;
    const [hx, hy] = handlePos(L, box);
    if (Math.abs(pos[0] - hx) <= HANDLE && Math.abs(pos[1] - hy) <= HANDLE) {
        return { mode: "resize", px, py, box: clampBox(box, L.iw, L.ih) };
    }
    if (px < 0 || py < 0 || px > L.iw || py > L.ih) return null;  // off the image: the node's own handling
    if (px >= bx && px <= bx + bs && py >= by && py <= by + bs) {
        return { mode: "move", px, py, box: clampBox(box, L.iw, L.ih) };
    }
    // on the image but off the box: draw a new box from here (its top-left corner) towards the pointer
    return { mode: "resize", px, py, box: [px, py, 0] };  // its side follows the drag (at least MIN_BOX)
}

// Apply the drag in progress for the pointer at node-local `pos`.
function dragTo(node, pos) {
    const d = node.toontalkerDrag;
    const L = d && layout(node, source(node));
    if (!L) return;
    const px = (pos[0] - L.x) / L.s, py = (pos[1] - L.y) / L.s;
    const [bx, by, bs] = d.box;
    const box = d.mode === "move" ? [bx + px - d.px, by + py - d.py, bs]
        // resize from the fixed top-left corner, never past the image's right/bottom edge
        : [bx, by, Math.min(Math.max(MIN_BOX, bs + Math.max(px - d.px, py - d.py)), L.iw - bx, L.ih - by)];
    writeBox(node, box, L);
}

app.registerExtension({
    name: "ToonTalker.CropEditor",
    setup() {  // a run that found no face: the hint says so (the node gets no output to show)
        api.addEventListener("execution_error", ({ detail }) => {
            const node = app.graph?.getNodeById?.(Number(detail?.node_id));
            if (node?.type !== NODE) return;
            node.toontalkerNoFace = true;
            node.setDirtyCanvas(true, true);
        });
    },
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData.name !== NODE) return;
        const specs = { ...nodeData.input?.required, ...nodeData.input?.optional };
        const defaults = Object.fromEntries(BOX_FIELDS.map((n) => [n, specs[n]?.[1]?.default ?? 0]));
        const onNodeCreated = nodeType.prototype.onNodeCreated;
        nodeType.prototype.onNodeCreated = function () {
            const r = onNodeCreated?.apply(this, arguments);
            const reset = this.addWidget("button", "reset box (detect)", null, () => {
                for (const [name, value] of [["box_mode", "auto"], ...Object.entries(defaults)]) {
                    const w = widget(this, name);
                    if (!w) continue;
                    w.value = value;
                    w.callback?.(value);
                }
                this.setDirtyCanvas(true, true);
            }, { serialize: false });
            reset.serialize = false;  // not a node input: neither in the saved widgets_values nor in the prompt
            // right under the box widgets: frontend 1.27 keeps rows for the folded advanced widgets, so a
            // button after them would land on the image
            const at = this.widgets.findIndex((w) => w.name === "crop_mode");
            if (at >= 0) this.widgets.splice(at + 1, 0, this.widgets.splice(this.widgets.indexOf(reset), 1)[0]);
            return r;
        };
        // Frontend 1.27 saves widgets_values by widget index (a skipped button leaves a null hole) but loads
        // them in order over the saved widgets only, so the hole would shift every value after the button:
        // save them in the order they are loaded.
        const onSerialize = nodeType.prototype.onSerialize;
        nodeType.prototype.onSerialize = function (o) {
            onSerialize?.apply(this, arguments);
            if (o.widgets_values) o.widgets_values = this.widgets.filter((w) => w.serialize !== false).map((w) => w.value);
        };
        const onExecuted = nodeType.prototype.onExecuted;
        nodeType.prototype.onExecuted = function (message) {
            onExecuted?.apply(this, arguments);
            dropProgressText(this);
            const crop = message?.toontalker_crop?.[0];
            this.toontalkerNoFace = false;
            if (crop) showCrop(this, crop);
        };
        const onDrawForeground = nodeType.prototype.onDrawForeground;
        nodeType.prototype.onDrawForeground = function (ctx) {
            onDrawForeground?.apply(this, arguments);
            draw(this, ctx);
        };
        reserveHeight(nodeType.prototype, "toontalkerViewH", [300, 80]);
        const onMouseDown = nodeType.prototype.onMouseDown;
        nodeType.prototype.onMouseDown = function (e, pos, canvas) {
            const h = hit(this, pos);
            if (!h) return onMouseDown?.apply(this, arguments);
            this.toontalkerDrag = h;
            const pointer = canvas?.pointer;
            if (pointer) {  // frontend 1.2x: the pointer keeps reporting moves outside the node's bounds
                h.viaPointer = true;
                pointer.onDrag = (eMove) => dragTo(this, [eMove.canvasX - this.pos[0], eMove.canvasY - this.pos[1]]);
                pointer.finally = () => { this.toontalkerDrag = null; };
            }
            return true;  // consume: do not start dragging the node
        };
        const onMouseMove = nodeType.prototype.onMouseMove;
        nodeType.prototype.onMouseMove = function (e, pos) {
            const d = this.toontalkerDrag;
            if (!d) return onMouseMove?.apply(this, arguments);
            if (d.viaPointer) return true;
            if (!e.buttons) {  // released outside the node
                this.toontalkerDrag = null;
                return;
            }
            dragTo(this, pos);
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
