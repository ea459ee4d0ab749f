"""Write the example workflows in both ComfyUI formats from one spec, so that they cannot drift apart.

    python tools/make_workflows.py           # -> example_workflows/*.json (UI) and example_workflows/api/*.json
    python tools/make_workflows.py --check   # exit 1 if the files on disk differ from what the spec gives

This file holds the templates' specs; the formats (UI and API) are written by tools/workflow_format.py.

Template browser: frontend 1.27 shows a custom pack's template by its file name only (title = the name, description
= the name with "_" as spaces, thumbnail = <name>.jpg) and reads no index for it, so this file also writes
web/template_index.json (each template's short title and one-line description, in order) for web/template_index.js,
which lists the pack's templates with them. The file names still read as sentences (older frontends show them);
the leading letter gives the order.

Sample media the workflows read from ComfyUI/input (the pack copies them from samples/ on start-up when they
are missing): source_real.png, source_cartoon.png, source_two_faces.png, driving.mp4, driving_cartoon.mp4.
Checkpoint: cross-domain-demo-64px.safetensors (the bundled
demo model, listed by ToonTalker Load Checkpoint without copying anything).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "tests"))
from pack_loader import load_pack  # noqa: E402  (the repository imported as ComfyUI does)
from workflow_format import ModelFile, Node, Workflow, js_numbers, pack_schema, schemas, to_api, to_ui  # noqa: E402

OUT = REPO / "example_workflows"
INDEX = REPO / "web" / "template_index.json"
CKPT = "cross-domain-demo-64px.safetensors"
SAMPLES = ("source_real.png", "source_cartoon.png", "source_two_faces.png", "driving.mp4", "driving_cartoon.mp4")


# --------------------------------------------------------------------------------------------------- the spec

TOP = 400  # everything below the note that opens each workflow


def note(nid: int, text: str, width: float) -> Node:
    """The workflow's read-me, top left (what it shows, which sample files to copy, the checkpoint)."""
    return Node(nid, "Note", (40, 60), (width, 200), widgets={"text": text})


def loaders(source: str, video: str) -> list[Node]:
    return [
        Node(1, "ToonTalkerLoadCheckpoint", (40, TOP), (320, 130),
             widgets={"ckpt_name": CKPT, "device": "auto", "precision": "auto"}),
        Node(2, "LoadImage", (40, TOP + 190), (320, 360), widgets={"image": source}),
        Node(3, "LoadVideo", (40, TOP + 610), (320, 400), widgets={"file": video}),
        Node(4, "GetVideoComponents", (400, TOP + 610), (240, 80), links={"video": (3, 0)}),
    ]


def save(nid: int, images: tuple[int, int], name: str, x: float, y: float) -> list[Node]:
    """CreateVideo at the driving video's fps with its audio, then SaveVideo."""
    return [
        Node(nid, "CreateVideo", (x, y), (270, 100), links={"images": images, "fps": (4, 2), "audio": (4, 1)},
             widgets={"fps": 25.0}),
        Node(nid + 1, "SaveVideo", (x, y + 160), (360, 440), links={"video": (nid, 0)},
             widgets={"filename_prefix": f"toontalker/{name}", "format": "auto", "codec": "auto"}),
    ]


def paste_back(nid: int, rendered: tuple[int, int], x: float, y: float) -> Node:
    """Paste Back of `rendered` into the source portrait (loader node 2) with the source Face Crop's (node 5)
    crop transform."""
    return Node(nid, "ToonTalkerPasteBack", (x, y), (300, 170), links={"original": (2, 0), "rendered": rendered,
                                                                         "crop": (5, 1)},
                widgets={"feather": 0.1, "color_match": 0.0})


INPUT_NOTE = ("Inputs: {files} (the pack copies its samples into ComfyUI/input on start-up when they are "
              "missing).\nCheckpoint: {ckpt}, the small bundled demo model (listed without copying anything). "
              "With a published "
              "256 px checkpoint in ComfyUI/models/toontalker, pick it in the loader instead.")


ONE_FACE = {"faces": "largest", "driving_face": "largest", "face_domains": "",  # the all-in-one node's defaults
            "track_hold": 0.25}


def all_in_one(name: str, title: str, description: str, source: str, video: str, route: str, about: str
               ) -> Workflow:
    nodes = [
        note(8, about + "\n\n" + INPUT_NOTE.format(files=f"{source}, {video}", ckpt=CKPT), 1100),
        *loaders(source, video),
        Node(5, "ToonTalkerReenact", (420, TOP), (360, 250),
             links={"model": (1, 0), "source_image": (2, 0), "driving_frames": (4, 0)},
             widgets={"route": route, "strength": 1.0, "mode": "relative", "reference_frame": 0, "batch_size": 8,
                      "crop": "auto", **ONE_FACE}),
        *save(6, (5, 0), name, 840, TOP),
    ]
    return Workflow(name, title, sorted(nodes, key=lambda n: n.id), description=description)


def encoders(source_domain: str, driving_domain: str, x: float) -> list[Node]:
    return [
        Node(5, "ToonTalkerEncodeSource", (x, TOP + 190), (320, 100), links={"model": (1, 0), "image": (2, 0)},
             widgets={"domain": source_domain}),
        Node(6, "ToonTalkerEncodeDrivingMotion", (x, TOP + 390), (340, 260),
             links={"model": (1, 0), "frames": (4, 0)}, widgets={"domain": driving_domain, "batch_size": 16}),
    ]


def branch(nid: int, strength: float, x: float, y: float, label: str | None = None) -> list[Node]:
    """Canonical Transfer -> Decode -> Render for one strength, sharing the encoders (ids 5, 6). `label` names
    the branch in the titles (never its values: they would lie after an edit)."""
    suffix = f" ({label})" if label else ""
    return [
        Node(nid, "ToonTalkerCanonicalTransfer", (x, y), (360, 140), links={"source": (5, 0), "motion": (6, 0)},
             widgets={"strength": strength, "mode": "relative", "reference_frame": 0},
             title=f"ToonTalker Canonical Motion Transfer{suffix}" if label else None),
        Node(nid + 1, "ToonTalkerDecodeToDomain", (x + 400, y), (290, 80),
             links={"model": (1, 0), "source": (5, 0), "canonical": (nid, 0)},
             title=f"ToonTalker Decode to Domain{suffix}" if label else None),
        Node(nid + 2, "ToonTalkerWarpRender", (x + 720, y), (280, 122),
             links={"model": (1, 0), "source": (5, 0), "latents": (nid + 1, 0)},
             widgets={"batch_size": 8, "output_size": 0},
             title=f"ToonTalker Warp Render{suffix}" if label else None),
    ]


def staged_upscale() -> Workflow:
    name = "d_staged_nodes_into_an_upscaler"
    # cartoon -> cartoon (the cross-domain checkpoint's cartoon generator), so it does not repeat template a
    nodes = loaders("source_cartoon.png", "driving_cartoon.mp4") + encoders("cartoon", "cartoon", 700) + branch(7, 1.0, 1140, TOP) + [
        Node(10, "ImageScaleBy", (1140, TOP + 280), (300, 90), links={"image": (9, 0)},
             widgets={"upscale_method": "lanczos", "scale_by": 2.0}),
        Node(11, "ImageSharpen", (1480, TOP + 280), (300, 120), links={"image": (10, 0)},
             widgets={"sharpen_radius": 1, "sigma": 1.0, "alpha": 0.5}),
        *save(12, (11, 0), name, 1820, TOP + 280),
        note(14, (
            "The staged graph: Encode Source and Encode Driving Motion run once and stay in ComfyUI's cache; "
            "Canonical Motion Transfer -> Decode to Domain -> Warp Render re-run when you change strength, mode "
            "or reference_frame. Warp Render renders at the model's resolution (64 px for the demo model, 256 px "
            "for the published ones) and hands back frames at the source image's size (output_size 0; 256 px "
            "here); they go through a plain upscaling chain (Upscale Image By x2 + Image Sharpen; swap in "
            "Load Upscale Model + Upscale Image (using Model) for an ESRGAN-type model) into a video with the "
            "driving clip's fps and audio. Here a cartoon video drives the cartoon portrait (set both encoders' "
            "domain to real, and load real media, for real -> real).\n\n"
            + INPUT_NOTE.format(files="source_cartoon.png, driving_cartoon.mp4", ckpt=CKPT)), 1100),
    ]
    groups = [("Load and encode once (cached)", [1, 2, 3, 4, 5, 6], "#3f789e"),
              ("Re-runs on a strength / mode change", [7, 8, 9], "#8A8"),
              ("Upscale and save", [10, 11, 12, 13], "#b58b2a")]
    return Workflow(name, "Staged nodes into an upscaler", nodes, groups,
                    "Encode once, then transfer, decode, render and upscale.")


def strength_comparison() -> Workflow:
    name = "e_three_strengths_side_by_side"
    rows = (TOP, TOP + 270, TOP + 540)
    nodes = (loaders("source_cartoon.png", "driving.mp4") + encoders("cartoon", "real", 700)
             + branch(7, 0.5, 1140, rows[0], "left") + branch(10, 1.0, 1140, rows[1], "middle")
             + branch(13, 1.5, 1140, rows[2], "right"))
    stitch = {"direction": "right", "match_image_size": True, "spacing_width": 0, "spacing_color": "white"}
    nodes += [
        Node(16, "ImageStitch", (2200, rows[0]), (280, 180), links={"image1": (9, 0), "image2": (12, 0)},
             widgets=stitch),
        Node(17, "ImageStitch", (2200, rows[1]), (280, 180), links={"image1": (16, 0), "image2": (15, 0)},
             widgets=stitch),
        *save(18, (17, 0), name, 2520, rows[0]),
        note(20, (
            "Three strengths side by side, left to right (a real video drives a cartoon portrait; the branches "
            "start at 0.5, 1.0 and 1.5). The loader and both encoders are shared: they run once. Change one "
            "strength (or mode) and queue again: only that "
            "branch's Transfer -> Decode -> Render, the stitching and the video re-run; the encoded source and "
            "motion, and the other branches, come from ComfyUI's cache.\n\n"
            + INPUT_NOTE.format(files="source_cartoon.png, driving.mp4", ckpt=CKPT)), 1100),
    ]
    groups = [("Load and encode once (cached)", [1, 2, 3, 4, 5, 6], "#3f789e"),
              ("Left branch", [7, 8, 9], "#8A8"), ("Middle branch", [10, 11, 12], "#8A8"),
              ("Right branch", [13, 14, 15], "#8A8")]
    return Workflow(name, "Three strengths side by side", nodes, groups,
                    "One pair of cached encoders, three motion strengths.")


NO_FACE = "f_no_face_found_draw_the_box_by_hand"


def no_face_manual_box() -> Workflow:
    """Recovery when detection misses a face: Face Crop with a manual box -> the staged nodes -> Paste Back."""
    name = NO_FACE
    # the crops sit right of Get Video Components (x 400-640), the Face Crop with its image preview is tall
    source_crop = face_crop(5, (2, 0), 700, TOP, "tracked", "ToonTalker Face Crop (source: box by hand)")
    source_crop.widgets.update(box_mode="manual", box_x=8, box_y=4, box_size=240)
    nodes = loaders("source_cartoon.png", "driving.mp4") + [
        source_crop,
        face_crop(6, (4, 0), 700, TOP + 530, "tracked", "ToonTalker Face Crop (driving frames)", fps=(4, 2)),
        Node(7, "ToonTalkerEncodeSource", (1080, TOP), (320, 100), links={"model": (1, 0), "image": (5, 0)},
             widgets={"domain": "cartoon"}),
        Node(8, "ToonTalkerEncodeDrivingMotion", (1080, TOP + 200), (340, 260),
             links={"model": (1, 0), "frames": (6, 0)}, widgets={"domain": "real", "batch_size": 16}),
        Node(9, "ToonTalkerCanonicalTransfer", (1480, TOP), (360, 140), links={"source": (7, 0), "motion": (8, 0)},
             widgets={"strength": 1.0, "mode": "relative", "reference_frame": 0}),
        Node(10, "ToonTalkerDecodeToDomain", (1480, TOP + 200), (290, 80),
             links={"model": (1, 0), "source": (7, 0), "canonical": (9, 0)}),
        Node(11, "ToonTalkerWarpRender", (1480, TOP + 340), (280, 122),
             links={"model": (1, 0), "source": (7, 0), "latents": (10, 0)},
             widgets={"batch_size": 8, "output_size": 0}),
        paste_back(12, (11, 0), 1900, TOP),
        *save(13, (12, 0), name, 2240, TOP),
        note(15, (
            "When a run stops with \"no face found\" (faces the detector misses: animals, unusual cartoons, "
            "masks), give the face's box by hand. The top Face Crop has box_mode manual: drag the box on the "
            "node (the image shows before any run; drag inside to move, the corner to resize) or type box_x / "
            "box_y / box_size in pixels. \"reset box (detect)\" goes back to detection. The lower Face Crop "
            "tracks the face in the driving frames (set it to manual too if the driving face is missed).\n"
            "The source's crop goes through Encode Source -> Transfer -> Decode -> Render, and Paste Back puts "
            "the rendered face back into the ORIGINAL source image using the SOURCE Face Crop's crop output "
            "(not the driving one): the result has the source's resolution. Both Face Crops take the model as "
            "input, so their crops have the model's resolution.\n\n"
            + INPUT_NOTE.format(files="source_cartoon.png, driving.mp4", ckpt=CKPT)), 1100),
    ]
    groups = [("Crop: the source box by hand", [5, 6], "#b58b2a"),
              ("Reenact the crops", [7, 8, 9, 10, 11], "#3f789e"),
              ("Paste back into the source and save", [12, 13, 14], "#8A8")]
    return Workflow(name, "No face found: draw the box", nodes, groups,
                    "Draw the face box by hand when detection misses it.")


# The models the chaining templates name, with where the frontend's missing-models dialog downloads them (README,
# "Chaining": which and why). Both .safetensors on huggingface.co: frontend 1.27 downloads nothing else (bar a
# short list of urls) and safetensors load without unpickling.
UPSCALER = ModelFile(  # Real-ESRGAN x4plus (xinntao, BSD-3-Clause), as Comfy-Org repackaged it for its templates
    "RealESRGAN_x4plus.safetensors",
    "https://huggingface.co/Comfy-Org/Real-ESRGAN_repackaged/resolve/main/RealESRGAN_x4plus.safetensors",
    "upscale_models")
SD15 = ModelFile(  # Stable Diffusion 1.5 (CreativeML OpenRAIL-M), Comfy-Org's archive of the runwayml release
    "v1-5-pruned-emaonly-fp16.safetensors",
    "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/v1-5-pruned-emaonly-fp16.safetensors",
    "checkpoints")
UPSCALE_MODEL, SD_CKPT = UPSCALER.name, SD15.name


def face_crop(nid: int, image: tuple[int, int], x: float, y: float, crop_mode: str, title: str,
              fps: tuple[int, int] | None = None) -> Node:
    """Face Crop with its defaults, its crops at the connected model's resolution."""
    schema = pack_schema(load_pack().NODE_CLASS_MAPPINGS["ToonTalkerFaceCrop"], "")
    spec = {k: v for section in load_pack().NODE_CLASS_MAPPINGS["ToonTalkerFaceCrop"].INPUT_TYPES().values()
            for k, v in section.items()}
    widgets = {i.name: spec[i.name][1]["default"] for i in schema.inputs if i.widget}
    widgets["crop_mode"] = crop_mode
    links = {"image": image, "model": (1, 0), **({"fps": fps} if fps else {})}
    return Node(nid, "ToonTalkerFaceCrop", (x, y), (320, 450), links=links, widgets=widgets, title=title)


def g_chain_upscale_the_face_crop_with_a_model() -> Workflow:
    """Reenact the face crop at the model's resolution, upscale only the crop with a model, paste it back."""
    name = "g_chain_upscale_the_face_crop_with_a_model"
    nodes = loaders("source_real.png", "driving.mp4") + [
        face_crop(5, (2, 0), 700, TOP, "fixed", "ToonTalker Face Crop (source)"),
        face_crop(6, (4, 0), 700, TOP + 530, "tracked", "ToonTalker Face Crop (driving)", fps=(4, 2)),
        Node(7, "ToonTalkerReenact", (1080, TOP), (360, 250),
             links={"model": (1, 0), "source_image": (5, 0), "driving_frames": (6, 0)},
             widgets={"route": "real video -> real portrait", "strength": 1.0, "mode": "relative",
                      "reference_frame": 0, "batch_size": 8, "crop": "none", **ONE_FACE}),
        Node(8, "UpscaleModelLoader", (1080, TOP + 310), (360, 80), widgets={"model_name": UPSCALE_MODEL},
             models=(UPSCALER,)),
        Node(9, "ImageUpscaleWithModel", (1480, TOP + 310), (280, 50), links={"upscale_model": (8, 0), "image": (7, 0)}),
        # The upscaled crops on view. It also makes a missing upscaler fail first: ComfyUI 0.3.64 does not check
        # Load Upscale Model's value before running (a V3 node: its combo escapes validation), and runs first a
        # node two links above an output node, so the loader runs before any ToonTalker node, not after them.
        Node(14, "PreviewImage", (1480, TOP + 430), (320, 320), links={"images": (9, 0)}),
        paste_back(10, (9, 0), 1480, TOP),
        *save(11, (10, 0), name, 1820, TOP),
        note(13, (
            "A model upscaler on the face only. Face Crop cuts the face out of the portrait and of every driving "
            "frame at the connected model's resolution (64 px for the bundled demo model, 256 px for the "
            "published checkpoints); ToonTalker Reenact (crop none) animates the crop; Load Upscale Model + "
            "Upscale Image (using Model) run any spandrel model (ESRGAN, Real-ESRGAN, SwinIR, ...) on the small "
            "crops only, which is cheap; Paste Back puts the sharper face into the portrait at its own "
            "resolution (the crop transform is rescaled to the upscaled size, so no detail is thrown away), and "
            "the frames become a video with the driving clip's fps and audio.\n\n"
            "Preview Image shows the upscaled face crops.\n\n"
            f"Upscale model: {UPSCALE_MODEL} (Real-ESRGAN x4plus, BSD-3-Clause) in ComfyUI/models/upscale_models; "
            "the editor offers the download when it is missing. Any other spandrel model works too: pick it in "
            "Load Upscale Model (an x4 model turns a 256 px crop into 1024 px).\n"
            + INPUT_NOTE.format(files="source_real.png, driving.mp4", ckpt=CKPT)), 1100),
    ]
    groups = [("Crop the faces at the model's resolution", [5, 6], "#3f789e"),
              ("Reenact, upscale the crop, paste back", [7, 8, 9, 10, 14], "#8A8"),
              ("Save", [11, 12], "#b58b2a")]
    return Workflow(name, "Upscale the face with a model", nodes, groups,
                    "Real ESRGAN x4 on the face crop, pasted back sharp.")


STYLE_PROMPT = "a watercolor painting of a person, soft brush strokes, muted colours, paper texture"
NEGATIVE_PROMPT = "blurry, deformed face, extra eyes, text, watermark, lowres"


def h_chain_stylize_the_frames_with_stable_diffusion() -> Workflow:
    """Reenact, then Stable Diffusion img2img at low denoise with one noise for every frame."""
    name = "h_chain_stylize_the_frames_with_stable_diffusion"
    sd = 840
    nodes = loaders("source_real.png", "driving.mp4") + [
        Node(5, "ToonTalkerReenact", (420, TOP), (360, 250),
             links={"model": (1, 0), "source_image": (2, 0), "driving_frames": (4, 0)},
             widgets={"route": "real video -> real portrait", "strength": 1.0, "mode": "relative",
                      "reference_frame": 0, "batch_size": 8, "crop": "auto", **ONE_FACE}),
        Node(6, "ImageScaleToTotalPixels", (420, TOP + 310), (320, 90), links={"image": (5, 0)},
             widgets={"upscale_method": "lanczos", "megapixels": 0.25}),
        Node(7, "CheckpointLoaderSimple", (sd, TOP), (360, 100), widgets={"ckpt_name": SD_CKPT}, models=(SD15,)),
        Node(8, "CLIPTextEncode", (sd, TOP + 160), (360, 160), links={"clip": (7, 1)},
             widgets={"text": STYLE_PROMPT}, title="CLIP Text Encode (style)"),
        Node(9, "CLIPTextEncode", (sd, TOP + 380), (360, 160), links={"clip": (7, 1)},
             widgets={"text": NEGATIVE_PROMPT}, title="CLIP Text Encode (negative)"),
        Node(10, "VAEEncode", (sd, TOP + 600), (210, 50), links={"pixels": (6, 0), "vae": (7, 2)}),
        Node(11, "LatentBatchSeedBehavior", (sd, TOP + 710), (300, 60), links={"samples": (10, 0)},
             widgets={"seed_behavior": "fixed"}),
        Node(12, "RebatchLatents", (sd, TOP + 830), (300, 60), links={"latents": (11, 0)},
             widgets={"batch_size": 16}),
        Node(13, "KSampler", (sd + 420, TOP), (320, 270),
             links={"model": (7, 0), "positive": (8, 0), "negative": (9, 0), "latent_image": (12, 0)},
             widgets={"seed": 42, "steps": 20, "cfg": 6.0, "sampler_name": "dpmpp_2m", "scheduler": "karras",
                      "denoise": 0.35}),
        Node(14, "VAEDecode", (sd + 420, TOP + 330), (210, 50), links={"samples": (13, 0), "vae": (7, 2)}),
        Node(15, "RebatchImages", (sd + 420, TOP + 440), (300, 60), links={"images": (14, 0)},
             widgets={"batch_size": 4096}),
        *save(16, (15, 0), name, sd + 800, TOP),
        note(18, (
            "Stable Diffusion img2img over the reenacted frames. ToonTalker Reenact animates the portrait; "
            "ImageScaleToTotalPixels brings the frames to SD 1.x's working size (0.25 MP = 512x512, aspect kept); "
            "VAE Encode -> KSampler (low denoise) -> VAE Decode restyles every frame with your checkpoint and "
            "prompt; the video keeps the driving clip's fps and audio.\n\n"
            "What matters: denoise sets how far SD may move away from the reenacted frame (0.25-0.4 restyles "
            "colours and texture and keeps the face and its motion; above ~0.5 every frame is re-invented and "
            "flickers). One noise for every frame keeps flicker low: LatentBatchSeedBehavior (fixed) gives all "
            "frames the same batch index, so KSampler draws the same noise for each; keep seed 'fixed' and use a "
            "sampler without its own per-step noise (dpmpp_2m, euler, ddim; not the *_ancestral / *_sde ones). "
            "Rebatch Latents runs KSampler 16 frames at a time (GPU memory), Rebatch Images joins the frames again "
            "for the video.\n"
            "Expect a steady style with some texture shimmer. For steadier results add a ControlNet (core Load "
            "ControlNet Model + Apply ControlNet, e.g. the core Canny node on the reenacted frames with an SD 1.5 "
            "canny/lineart model) or a temporal-attention pack (AnimateDiff-Evolved).\n\n"
            f"Checkpoint: {SD_CKPT} (Stable Diffusion 1.5, CreativeML OpenRAIL-M) in ComfyUI/models/checkpoints; "
            "the editor offers the download when it is missing. Any SD 1.x checkpoint works: pick it in Load "
            "Checkpoint.\n"
            + INPUT_NOTE.format(files="source_real.png, driving.mp4", ckpt=CKPT)), 1100),
    ]
    groups = [("Reenact", [1, 2, 3, 4, 5, 6], "#3f789e"),
              ("Stable Diffusion img2img, same noise for every frame", [7, 8, 9, 10, 11, 12, 13, 14, 15], "#8A8"),
              ("Save", [16, 17], "#b58b2a")]
    return Workflow(name, "Restyle with Stable Diffusion", nodes, groups,
                    "SD 1.5 img2img on every frame, with one shared noise.")


def encoded_portrait(image: str, domain: str) -> list[Node]:
    """Nodes 1-3: loader, the portrait, Encode Source (the motion workflows need no driving video)."""
    return [
        Node(1, "ToonTalkerLoadCheckpoint", (40, TOP), (320, 130),
             widgets={"ckpt_name": CKPT, "device": "auto", "precision": "auto"}),
        Node(2, "LoadImage", (40, TOP + 190), (320, 360), widgets={"image": image}),
        Node(3, "ToonTalkerEncodeSource", (400, TOP), (320, 100), links={"model": (1, 0), "image": (2, 0)},
             widgets={"domain": domain}),
    ]


def motion_editor() -> Workflow:
    name = "i_edit_a_portrait_expression_with_the_motion_editor"
    nodes = [
        *encoded_portrait("source_cartoon.png", "cartoon"),
        Node(4, "ToonTalkerMotionEditor", (760, TOP), (360, 420), links={"model": (1, 0), "source": (3, 0)},
             widgets={"head_yaw": 0.0, "head_roll": 0.0, "head_pitch": 0.0, "head_x": 2.0, "head_y": 0.0,
                      "head_scale": 0.0, "mouth_open": 0.0, "eyes_closed": 0.0,
                      **{f"d{i:02d}": 0.0 for i in range(20)}}),
        Node(5, "SaveImage", (1160, TOP), (400, 440), links={"images": (4, 2)},
             widgets={"filename_prefix": f"toontalker/{name}"}),
        note(6, (
            "Edit a still portrait's pose and expression with the Motion Editor. Move a slider and queue: only the "
            "editor re-runs (edit, decode and render of one frame; Encode Source comes from the cache) and shows "
            "the result on the node. Each named slider moves one thing; which ones a checkpoint can isolate is "
            "measured (once, on first use; the demo model's ship with the pack): after a run the others are "
            "greyed out, with the reason in their tooltip, and ignored if set. The raw sliders d00.. (Show "
            "Advanced) move along each learned motion base. Connect a MOTION or CANONICAL input to edit every "
            "frame of a video instead.\n\n"
            + INPUT_NOTE.format(files="source_cartoon.png", ckpt=CKPT)), 1100),
    ]
    return Workflow(name, "Pose a portrait with sliders", sorted(nodes, key=lambda n: n.id),
                    description="Motion Editor: turn and tilt a still portrait.")


KEYFRAMES = """[
  {"time": 0.4},
  {"time": 1.2, "set": {"head_x": 3}, "ease": "ease_in_out"},
  {"time": 2.0, "set": {"head_x": -3}, "ease": "ease_in_out"},
  {"time": 3.0, "set": {"d03": 2.5}, "ease": "ease_in_out"},
  {"time": 3.8, "ease": "ease_out"}
]"""


def keyframe_animation() -> Workflow:
    name = "j_keyframe_animation_without_a_driving_video"
    nodes = [
        *encoded_portrait("source_cartoon.png", "cartoon"),
        Node(4, "ToonTalkerMotionKeyframes", (400, TOP + 160), (420, 420),
             links={"model": (1, 0), "source": (3, 0)},
             widgets={"domain": "cartoon", "keyframes": KEYFRAMES, "length": 100, "fps": 25.0}),
        Node(5, "ToonTalkerCanonicalTransfer", (860, TOP), (360, 140), links={"source": (3, 0), "motion": (4, 0)},
             widgets={"strength": 1.0, "mode": "relative", "reference_frame": 0}),
        Node(6, "ToonTalkerDecodeToDomain", (1260, TOP), (290, 80),
             links={"model": (1, 0), "source": (3, 0), "canonical": (5, 0)}),
        Node(7, "ToonTalkerWarpRender", (1580, TOP), (280, 122),
             links={"model": (1, 0), "source": (3, 0), "latents": (6, 0)},
             widgets={"batch_size": 8, "output_size": 0}),
        Node(8, "CreateVideo", (1580, TOP + 170), (270, 100), links={"images": (7, 0), "fps": (4, 1)},
             widgets={"fps": 25.0}),
        Node(9, "SaveVideo", (1580, TOP + 330), (360, 440), links={"video": (8, 0)},
             widgets={"filename_prefix": f"toontalker/{name}", "format": "auto", "codec": "auto"}),
        note(10, (
            "Animate the sample cartoon with no driving video: Motion Keyframes turns a few keys (time in seconds "
            "or frame, Motion Editor settings or an expression photo, easing) into a MOTION that Canonical Motion "
            "Transfer takes like an encoded video. Here: still, slide right, slide left, raw motion 3, back. "
            "Edit the keys and queue; the frames are written to a 4 s video at 25 fps. Save Motion keeps a "
            "motion for reuse.\n\n" + INPUT_NOTE.format(files="source_cartoon.png", ckpt=CKPT)), 1100),
    ]
    return Workflow(name, "Keyframes, no driving video", sorted(nodes, key=lambda n: n.id),
                    description="Animate a cartoon from a few keys: tilt, turn, lean in.")


def two_faces() -> Workflow:
    """The all-in-one node on a picture with two faces of different domains, both driven by one video."""
    name = "k_one_video_drives_two_faces_a_real_one_and_a_cartoon"
    wf = all_in_one(name, "One video drives two faces", "A real face and a cartoon in one picture, both move.",
                    "source_two_faces.png", "driving.mp4", "real video -> real portrait",
                    "Several faces in one picture: ToonTalker Reenact (crop auto) with faces = all finds every "
                    "face, crops, encodes and reenacts each on its own and pastes them all back; the rest of the "
                    "picture stays as it was. face_domains gives each face's domain from left to right (here "
                    "the real astronaut, then the cartoon), so one cross-domain checkpoint animates both. "
                    "driving_face picks the face in the video that drives them (largest, or a position from the "
                    "left); paired gives the i-th driving face to the i-th source face. faces also takes "
                    "positions (0,2) or largest. These inputs are under Show Advanced.")
    reenact = next(n for n in wf.nodes if n.id == 5)
    reenact.widgets.update({"faces": "all", "driving_face": "largest", "face_domains": "real,cartoon"})
    return wf


def face_chain(nid: int, side: str, crop: int, domain: str, strength: float, original: tuple[int, int],
               y: float) -> list[Node]:
    """One face's staged chain: Encode Source of its crop (Face Crop `crop`) -> Transfer (the shared driving
    motion, node 8) -> Decode -> Render -> Paste Back into `original` with that crop's transform."""
    def title(node: str) -> str:
        return f"ToonTalker {node} ({side} face)"

    return [
        Node(nid, "ToonTalkerEncodeSource", (1080, y), (320, 100), links={"model": (1, 0), "image": (crop, 0)},
             widgets={"domain": domain}, title=title("Encode Source")),
        Node(nid + 1, "ToonTalkerCanonicalTransfer", (1460, y), (360, 140),
             links={"source": (nid, 0), "motion": (8, 0)},
             widgets={"strength": strength, "mode": "relative", "reference_frame": 0},
             title=title("Canonical Motion Transfer")),
        Node(nid + 2, "ToonTalkerDecodeToDomain", (1460, y + 200), (320, 80),  # 290 is too narrow for its title
             links={"model": (1, 0), "source": (nid, 0), "canonical": (nid + 1, 0)}, title=title("Decode to Domain")),
        Node(nid + 3, "ToonTalkerWarpRender", (1460, y + 340), (280, 122),
             links={"model": (1, 0), "source": (nid, 0), "latents": (nid + 2, 0)},
             widgets={"batch_size": 8, "output_size": 0}, title=title("Warp Render")),
        Node(nid + 4, "ToonTalkerPasteBack", (1880, y), (300, 170),
             links={"original": original, "rendered": (nid + 3, 0), "crop": (crop, 1)},
             widgets={"feather": 0.1, "color_match": 0.0}, title=title("Paste Back")),
    ]


def two_faces_staged() -> Workflow:
    """Template k's picture with the staged nodes: one chain per face, the right face's Paste Back pasting into
    the left one's frames, so each face has its own domain, strength and mode."""
    name = "l_two_faces_each_with_its_own_staged_chain"
    left_crop = face_crop(5, (2, 0), 700, TOP, "fixed", "ToonTalker Face Crop (left face)")
    right_crop = face_crop(6, (2, 0), 700, TOP + 580, "fixed", "ToonTalker Face Crop (right face)")
    left_crop.widgets["face"], right_crop.widgets["face"] = "0", "1"
    nodes = loaders("source_two_faces.png", "driving.mp4") + [
        left_crop, right_crop,
        face_crop(7, (4, 0), 700, TOP + 1160, "tracked", "ToonTalker Face Crop (driving frames)", fps=(4, 2)),
        Node(8, "ToonTalkerEncodeDrivingMotion", (1080, TOP + 1160), (340, 260),
             links={"model": (1, 0), "frames": (7, 0), "fps": (4, 2)}, widgets={"domain": "real", "batch_size": 16}),
        *face_chain(9, "left", 5, "real", 1.0, (2, 0), TOP),
        *face_chain(14, "right", 6, "cartoon", 1.5, (13, 0), TOP + 580),
        *save(19, (18, 0), name, 2240, TOP + 580),
        note(21, (
            "Several faces with the staged nodes: one chain per face. Each Face Crop takes one face of the "
            "picture (face, under Show Advanced: a position counted from 0 at the left, here 0 = the real "
            "astronaut, 1 = the cartoon); each chain encodes its face in its own domain (real, cartoon) and "
            "transfers the shared driving motion at its own strength (1.0 left, 1.5 right: the cartoon's moves "
            "are exaggerated). The left Paste Back pastes into the still; the right Paste Back takes the left "
            "one's frames as its original and the right Face Crop's crop, so both faces end up in one video and "
            "the rest of the picture stays as it was. More faces: add a chain per face and keep stacking Paste "
            "Backs. With one strength for all, template k's all-in-one node (faces = all) does the same in one "
            "node.\n\n"
            + INPUT_NOTE.format(files="source_two_faces.png, driving.mp4", ckpt=CKPT)), 1100),
    ]
    # rows 580 apart: a group's title sits 80 above its top node, a 450 high Face Crop and 20 of margin below
    groups = [("Left face: the real one", [5, 9, 10, 11, 12, 13], "#3f789e"),
              ("Right face: the cartoon, pasted into the left face's frames", [6, 14, 15, 16, 17, 18], "#8A8"),
              ("Driving motion, shared", [7, 8], "#a1309b"),
              ("Save", [19, 20], "#b58b2a")]
    return Workflow(name, "Two faces, a chain each", sorted(nodes, key=lambda n: n.id), groups,
                    "Each face its own staged chain and strength.")


def workflows() -> list[Workflow]:
    return [
        all_in_one("a_real_video_drives_a_real_portrait", "Real video drives a portrait",
                   "Start here: one node animates a photo; audio kept.",
                   "source_real.png",
                   "driving.mp4", "real video -> real portrait",
                   "Start here. Real -> real with the all-in-one node: Load Video -> Get Video Components gives "
                   "the frames, "
                   "the audio and the fps; the reenacted frames are put back together with the same audio and "
                   "fps. crop auto finds the faces, reenacts the face crops and pastes them back at the "
                   "source's resolution."),
        all_in_one("b_real_video_drives_a_cartoon_r2c", "Real video drives a cartoon",
                   "A person's video moves a cartoon portrait (r2c).",
                   "source_cartoon.png",
                   "driving.mp4", "real video -> cartoon portrait (r2c)",
                   "Cross-domain r2c: a real person's video drives a cartoon portrait (needs a cross-domain "
                   "checkpoint; the demo model is one)."),
        all_in_one("c_cartoon_video_drives_a_real_face_c2r", "Cartoon video drives a face",
                   "A cartoon video moves a real portrait (c2r).",
                   "source_real.png",
                   "driving_cartoon.mp4", "cartoon video -> real portrait (c2r)",
                   "Cross-domain c2r: a cartoon video drives a real portrait (needs a cross-domain checkpoint; "
                   "the demo model is one)."),
        staged_upscale(),
        strength_comparison(),
        no_face_manual_box(),
        g_chain_upscale_the_face_crop_with_a_model(),
        h_chain_stylize_the_frames_with_stable_diffusion(),
        motion_editor(),
        keyframe_animation(),
        two_faces(),
        two_faces_staged(),
    ]


def render_all(pack=None) -> dict[Path, str]:
    """File path -> content for every workflow in both formats."""
    sch = schemas(pack or load_pack())
    files = {}
    for wf in workflows():
        files[OUT / f"{wf.name}.json"] = json.dumps(js_numbers(to_ui(wf, sch)), indent=1) + "\n"
        files[OUT / "api" / f"{wf.name}.json"] = json.dumps(js_numbers(to_api(wf, sch)), indent=1) + "\n"
    files[INDEX] = json.dumps(template_index(), indent=1, ensure_ascii=False) + "\n"
    return files


def template_index() -> dict:
    """What web/template_index.js shows in the template browser: the templates in order, each with its card's
    title and one-line description."""
    return {"templates": [{"name": wf.name, "title": wf.title, "description": wf.description}
                          for wf in sorted(workflows(), key=lambda wf: wf.name)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = ap.parse_args(argv)
    files = render_all()
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print("out of date:", p.relative_to(REPO))
        return 1 if stale else 0
    (OUT / "api").mkdir(parents=True, exist_ok=True)
    for p, text in files.items():
        p.write_text(text)
        print("wrote", p.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
