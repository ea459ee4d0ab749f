"""Tiny random models for the chaining templates, built with ComfyUI's own classes and configs (run it with
ComfyUI's python; tests/integration/test_chaining.py does):

    python chain_models.py --comfyui /path/to/ComfyUI --upscaler OUT.safetensors --checkpoint OUT.safetensors

- upscaler: a Real-ESRGAN Compact (spandrel's SRVGGNetCompact, num_feat 8, num_conv 2, x4), ~20 KB (.pth or
  .safetensors by the file name). Its last
  conv is scaled down so that the output stays close to the nearest-neighbour upscale it adds the residual to.
- checkpoint: the smallest SD 1.x checkpoint that ComfyUI's model detection takes for SD15:
  * UNet: SD15's own unet_config (model_channels 320, context_dim 768: detection matches on both, so the width
    cannot shrink) with the depth reduced: one level (channel_mult [1]), one res block with one cross-attention
    transformer (detection reads context_dim from it), no middle block, plain output blocks. ~14 M parameters
    instead of 860 M.
  * VAE: ComfyUI's TAESD layout (taesd_encoder / taesd_decoder keys under first_stage_model.): VAE() picks its
    architecture from these keys; the AutoencoderKL branch has a fixed width (ch 128), the TAESD one is ~2.4 M
    parameters with the same 4-channel, 8x latent.
  * CLIP: SD15's text encoder (sd1_clip_config.json) is built from a fixed config whatever the keys say, and a
    missing key stays uninitialised memory, so it is full size (123 M parameters, the bulk of the file).
  All weights are random (seeded), stored as fp16. The script checks with ComfyUI's own detection that the file
  is taken for SD15 and prints the parameter counts.
"""
from __future__ import annotations

import argparse
import math
import sys

REDUCED_UNET = {  # what detect_unet_config reads back from the keys (the SD15 values where detection matches)
    "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [1], "transformer_depth": [1], "transformer_depth_output": [0, 0], "channel_mult": [1],
    "transformer_depth_middle": -2, "use_linear_in_transformer": False, "context_dim": 768,
    "use_temporal_resblock": False, "use_temporal_attention": False,
}


def comfy_on_cpu(comfy_path: str):
    sys.path.insert(0, comfy_path)
    argv, sys.argv = sys.argv, [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()  # comfy.model_management reads --cpu when first imported
    import comfy.model_management  # noqa: F401
    sys.argv = argv


def randomize(module, gen, out_gain: dict | None = None):
    """Random weights for modules built with ComfyUI's ops (which skip PyTorch's init): Linear/Conv ~ N(0, 1/fan_in),
    norms 1/0, embeddings N(0, 0.02), biases 0, other parameters (TAESD's vae_scale/shift) kept."""
    import torch

    out_gain = out_gain or {}
    for name, m in module.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(m, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)
            continue
        if isinstance(m, torch.nn.Embedding):
            m.weight.data.normal_(0, 0.02, generator=gen)
            continue
        if isinstance(w, torch.nn.Parameter) and w.dim() >= 2:
            std = out_gain.get(name, 1.0) / math.sqrt(w[0].numel())
            w.data.normal_(0, std, generator=gen)
        elif isinstance(m, torch.nn.PReLU):
            m.weight.data.fill_(0.25)
        b = getattr(m, "bias", None)
        if isinstance(b, torch.nn.Parameter):
            b.data.zero_()


def upscaler(path: str, gen) -> int:
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact as SRVGGNetCompact

    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)
    last = f"body.{len(net.body) - 1}"
    randomize(net, gen, {last: 0.05})  # a small residual over the nearest upscale
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    if path.endswith((".pth", ".pt")):  # the published Real-ESRGAN files are .pth (ComfyUI loads weights only)
        torch.save(sd, path)
    else:
        save_file(sd, path)
    import spandrel

    model = spandrel.ModelLoader().load_from_state_dict(sd)  # what ComfyUI's UpscaleModelLoader does
    assert model.architecture.name == "RealESRGAN Compact", model.architecture.name
    assert model.scale == 4, model.scale
    return sum(v.numel() for v in sd.values())


def checkpoint(path: str, gen) -> dict:
    import torch
    import comfy.model_detection
    import comfy.sd1_clip
    import comfy.supported_models
    import comfy.taesd.taesd
    from safetensors.torch import save_file

    config = comfy.supported_models.SD15(dict(REDUCED_UNET))
    unet = config.get_model({}).diffusion_model  # the UNetModel ComfyUI builds for this config
    randomize(unet, gen)
    vae = comfy.taesd.taesd.TAESD(latent_channels=4)
    randomize(vae, gen)
    # the random encoder's latents have std ~0.3: scaled up to the real VAE's range (std ~1 after SD15's 0.18215),
    # so that the picture is not drowned by the sampler's noise at low denoise
    vae.vae_scale.data.fill_(1 / 32)
    clip = comfy.sd1_clip.SD1ClipModel(device="cpu", dtype=torch.float32)
    randomize(clip, gen)

    sd = {}
    counts = {}
    for prefix, module, strip in (("model.diffusion_model.", unet, ""), ("first_stage_model.", vae, ""),
                                  ("cond_stage_model.transformer.", clip, "clip_l.transformer.")):
        part = {k[len(strip):]: v for k, v in module.state_dict().items() if k.startswith(strip)}
        part = {k: v for k, v in part.items() if v.is_floating_point()}
        counts[prefix.split(".")[0]] = sum(v.numel() for v in part.values())
        sd.update({prefix + k: v.to(torch.float16).contiguous() for k, v in part.items()})
    save_file(sd, path)

    # ComfyUI's detection on the written file: SD15, with the reduced UNet config read back from the keys
    found = comfy.model_detection.model_config_from_unet(sd, "model.diffusion_model.")
    assert type(found) is comfy.supported_models.SD15, f"detected as {type(found).__name__}"
    detected = comfy.model_detection.detect_unet_config(sd, "model.diffusion_model.")
    assert all(detected[k] == v for k, v in REDUCED_UNET.items()), detected
    return counts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--upscaler")
    ap.add_argument("--checkpoint")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    comfy_on_cpu(args.comfyui)
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    if args.upscaler:
        print(f"upscaler {args.upscaler}: {upscaler(args.upscaler, gen)} parameters")
    if args.checkpoint:
        counts = checkpoint(args.checkpoint, gen)
        print(f"checkpoint {args.checkpoint}: " + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in counts.items())
              + " parameters; detected as SD15")


if __name__ == "__main__":
    main()
