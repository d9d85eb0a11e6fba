"""Reference set reference/inpaint9/: diffusers 0.27.2's StableDiffusionInpaintPipeline with a 9-channel inpainting
UNet (in_channels 9, as runwayml/stable-diffusion-inpainting): every step the UNet is given
cat([scale_model_input(latents) (twice with guidance), mask, masked_image_latents], dim=1); no blending.

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_inpaint9.py [--out reference/inpaint9]

The UNet is new: the shared tiny UNet's architecture with in_channels 9, random weights (torch.manual_seed(9), constant
parameters perturbed by 0.1 N(0,1)), saved to unet/ in the set (save_pretrained, safetensors). The VAE is the shared
tiny one (components.json). Writes init.png and mask.png (reference/inpaint's) and inpaint_<scheduler>_s<strength>[_b<n>]
.safetensors, each holding:
  init_image [1, 3, 16, 16], mask [1, 1, 16, 16] (binarized), mask_latents [1, 1, 8, 8] (interpolate, nearest),
  masked_image_latents [B, 4, 8, 8] (scaling_factor * the masked image's posterior sample), strength,
  num_inference_steps, noise_seed, cond_emb, uncond_emb, guidance_scale, timesteps (those that run),
  step<i>_model_input [2B, 9, 8, 8], step<i>_noise_uncond, step<i>_noise_text, step<i>_guided, step<i>_latents_out,
  final_latents, image_01.
The intermediates are taken from the pipeline's own run (a forward hook on the UNet, callback_on_step_end); a second
run with output_type="pt" gives image_01.

The mask sets (..._blur<n>_crop<p>.safetensors: the mask blurred by pipe.mask_processor.blur, padding_mask_crop) are
recorded by gen_inpaint_masks.py after these, with its extra keys (mask_blur, mask_crop_padding, crop_box,
image_overlay).
"""
import argparse, os, sys

import PIL.Image
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import strength_helpers  # noqa: E402

OUT, g = strength_helpers.load("gen_inpaint9.py", "inpaint9")
save, components_json, SCHEDULERS = g["save"], g["components_json"], g["SCHEDULERS"]
tiny_unet, vae, text_encoder, tok, embed = g["unet"], g["vae"], g["text_encoder"], g["tok"], g["embed"]
from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

report = {"versions": g["META"]}
os.makedirs(OUT, exist_ok=True)
INPAINT = os.path.join(HERE, "..", "..", "reference", "inpaint")
init = PIL.Image.open(os.path.join(INPAINT, "init.png")).convert("RGB")
mask = PIL.Image.open(os.path.join(INPAINT, "mask.png")).convert("RGB")
init.save(f"{OUT}/init.png")
mask.save(f"{OUT}/mask.png")
PROMPT, NEG = "a photograph of an astronaut riding a horse", "blurry"

# the 9-channel UNet: the tiny UNet's config with in_channels 9, fresh random weights
cfg = dict(tiny_unet.config)
cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
cfg["in_channels"] = 9
torch.manual_seed(9)
unet = UNet2DConditionModel(**cfg).eval()
gen = torch.Generator().manual_seed(90)
with torch.no_grad():
    for n, p in unet.named_parameters():
        if p.numel() > 1 and bool(torch.all(p == p.flatten()[0])):
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
unet.save_pretrained(f"{OUT}/unet", safe_serialization=True)
unet = UNet2DConditionModel.from_pretrained(f"{OUT}/unet").eval()


def record(sname, steps, strength, seed, batch=1):
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{OUT}/scheduler_{sname}")
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet, scheduler=sch,
                                          safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    rec = {"init_image": pipe.image_processor.preprocess(init), "noise_seed": torch.tensor(seed),
           "strength": torch.tensor(float(strength)), "num_inference_steps": torch.tensor(steps),
           "cond_emb": embed([PROMPT]), "uncond_emb": embed([NEG]), "guidance_scale": torch.tensor(7.5)}
    mc = pipe.mask_processor.preprocess(mask, height=16, width=16)
    rec["mask"] = mc
    rec["mask_latents"] = torch.nn.functional.interpolate(mc, size=(8, 8))
    calls = []

    def hook(module, inputs, output):
        calls.append((inputs[0].clone(), output[0].clone()))
    handle = unet.register_forward_hook(hook)

    def cb(p, i, t, kw):
        x, out = calls[i]
        u, c = out.chunk(2)
        rec[f"step{i}_model_input"] = x
        rec[f"step{i}_noise_uncond"], rec[f"step{i}_noise_text"] = u, c
        rec[f"step{i}_guided"] = u + 7.5 * (c - u)
        rec[f"step{i}_latents_out"] = kw["latents"].clone()
        if i == 0: rec["masked_image_latents"] = kw["masked_image_latents"][:batch].clone()
        return kw
    kw = dict(prompt=PROMPT, negative_prompt=NEG, image=init, mask_image=mask, strength=strength, height=16, width=16,
              num_inference_steps=steps, guidance_scale=7.5, num_images_per_prompt=batch)
    with torch.no_grad():
        lat = pipe(**kw, output_type="latent", callback_on_step_end=cb,
                   callback_on_step_end_tensor_inputs=["latents", "masked_image_latents"],
                   generator=torch.Generator().manual_seed(seed)).images
        handle.remove()
        img = pipe(**kw, output_type="pt", generator=torch.Generator().manual_seed(seed)).images
    ran = sum(k.endswith("_latents_out") for k in rec)
    rec["timesteps"] = pipe.scheduler.timesteps[len(pipe.scheduler.timesteps) - ran:]
    rec.update({"final_latents": lat, "image_01": img})
    name = f"inpaint_{sname}_s{strength:g}" + (f"_b{batch}" if batch > 1 else "")
    report[f"{name}_timesteps"] = rec["timesteps"].tolist()
    save(f"{OUT}/{name}.safetensors", rec)


record("ddim", 8, 1.0, 31)
record("ddim", 8, 0.75, 31)
record("euler", 8, 1.0, 33)
record("dpmpp2m", 8, 0.6, 34)
record("euler_a", 8, 0.75, 32, batch=2)
import gen_inpaint_masks  # noqa: E402
mask_sets = gen_inpaint_masks.MaskSets(OUT, g, init, mask, report, PROMPT, NEG, ninechannel=True)
mask_sets.record("ddim", 4, 1.0, 31, blur=1, pad=2, unet=unet)
mask_sets.record("dpmpp2m", 4, 0.75, 34, blur=2, pad=None, unet=unet)
components_json(OUT, ["vae"])
import json
with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
