"""Reference set reference/inpaint/: diffusers 0.27.2's StableDiffusionInpaintPipeline with an ordinary 4-channel UNet
(the shared tiny random-weight models): each step's latents are blended with the image's latents noised to the next
timestep outside the mask. Recorded through the pipeline itself (callback_on_step_end sees the blended latents).

    PYTHONPATH=$REFGEN_WORK/pp /usr/bin/python3 tools/refgen/gen_inpaint.py [--out reference/inpaint]

Writes init.png (img2img's picture), mask.png (white = repaint) and inpaint_<scheduler>_s<strength>.safetensors:
  init_image [1, 3, 16, 16], mask [1, 1, 16, 16] (binarized), mask_latents [1, 1, 8, 8], step<i>_latents_out (after
  the blend), final_latents, image_01, timesteps, strength, num_inference_steps, noise_seed, cond_emb, uncond_emb,
  guidance_scale.

The mask sets (inpaint_<scheduler>_s<strength>[_blur<n>][_crop<p>].safetensors) run the same pipeline on the mask
blurred by pipe.mask_processor.blur(mask, blur_factor=n) (PIL's GaussianBlur) and/or with padding_mask_crop=p, and add
mask_blur (F32, 0 for none), mask_crop_padding (I64, -1 for none); with a crop also crop_box [4] (get_crop_region's
x1, y1, x2, y2), image_01 before the overlay and image_overlay [B, H, W, 3] (I64 0..255: the PIL picture the pipeline
returns, apply_overlay's). init_image and mask are then the cropped, resized ("fill") ones the run sees. A crop needs
output_type="pil", so those runs are recorded once: the last callback's latents are final_latents, and image_01 is
what postprocess made of the decoded picture before apply_overlay.
"""
import argparse, os, sys

import numpy as np
import PIL.Image
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import strength_helpers  # noqa: E402

OUT, g = strength_helpers.load("gen_inpaint.py", "inpaint")
save, components_json, SCHEDULERS = g["save"], g["components_json"], g["SCHEDULERS"]
unet, vae, text_encoder, tok, embed = g["unet"], g["vae"], g["text_encoder"], g["tok"], g["embed"]
from diffusers import StableDiffusionInpaintPipeline

report = {"versions": g["META"]}
os.makedirs(OUT, exist_ok=True)
init = PIL.Image.open(os.path.join(HERE, "..", "..", "reference", "img2img", "init.png")).convert("RGB")
init.save(f"{OUT}/init.png")
m = np.zeros((16, 16), np.uint8); m[2:10, 6:15] = 255                # repaint the yellow square's area
mask = PIL.Image.fromarray(np.stack([m] * 3, -1), "RGB")
mask.save(f"{OUT}/mask.png")
PROMPT, NEG = "a photograph of an astronaut riding a horse", "blurry"


def record(sname, steps, strength, seed, blur=0, pad=None):
    if blur or pad is not None:
        return mask_sets.record(sname, steps, strength, seed, blur, pad, unet=unet, batch=1)
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

    def cb(p, i, t, kw):
        rec[f"step{i}_latents_out"] = kw["latents"].clone()
        return kw
    with torch.no_grad():
        lat = pipe(prompt=PROMPT, negative_prompt=NEG, image=init, mask_image=mask, strength=strength, height=16, width=16,
                   num_inference_steps=steps, guidance_scale=7.5, output_type="latent", callback_on_step_end=cb,
                   generator=torch.Generator().manual_seed(seed)).images
        img = pipe(prompt=PROMPT, negative_prompt=NEG, image=init, mask_image=mask, strength=strength, height=16, width=16,
                   num_inference_steps=steps, guidance_scale=7.5, output_type="pt",
                   generator=torch.Generator().manual_seed(seed)).images
    rec["timesteps"] = pipe.scheduler.timesteps[len(pipe.scheduler.timesteps) - sum(k.endswith("_latents_out") for k in rec):]
    rec.update({"final_latents": lat, "image_01": img})
    name = f"inpaint_{sname}_s{strength:g}"
    report[f"{name}_timesteps"] = rec["timesteps"].tolist()
    save(f"{OUT}/{name}.safetensors", rec)


for s in ("ddim", "euler"):
    for strength in (1.0, 0.75):
        record(s, 8, strength, 31)
record("euler_a", 8, 0.75, 32)
import gen_inpaint_masks  # noqa: E402
mask_sets = gen_inpaint_masks.MaskSets(OUT, g, init, mask, report, PROMPT, NEG, ninechannel=False)
record("ddim", 8, 0.75, 31, blur=2)
record("euler", 8, 1.0, 31, blur=1, pad=1)
record("ddim", 8, 0.75, 35, pad=1)
components_json(OUT, ["unet", "vae"])
import json
with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
