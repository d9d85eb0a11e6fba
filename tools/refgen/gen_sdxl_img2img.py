"""reference/sdxl-img2img/: image-to-image and inpainting runs of reference/sdxl's tiny SDXL base (its committed folder,
named by components.json with its UNet's sha256) through diffusers' StableDiffusionXLImg2ImgPipeline and
StableDiffusionXLInpaintPipeline (requires_aesthetics_score false), with the size conditioning ("micro-conditioning")
those pipelines lay out differently from StableDiffusionXLPipeline: add_neg_time_ids = negative_original_size (default
original_size) + crops_coords_top_left (the positive crop: negative_crops_coords_top_left is not read) +
negative_target_size (default target_size), each negative size on its own, and guided rows B negative then B positive
(the text-to-image pipeline repeats cat([negative, positive]) instead). diffusers 0.27.2 / transformers 4.30.0, CPU fp32
(docs/VERIFY.md formats: img2img_* / inpaint_* runs).

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_sdxl_img2img.py [--out DIR]

Each run is recorded through the pipeline itself (callback_on_step_end: the latents after every step and the UNet's
time-id rows), then the pipeline is called again for the picture; the prompt embeddings are encode_prompt's. The script
stops unless the recorded rows follow the rule above. See reference/sdxl-img2img/README.md.
"""
import argparse, hashlib, json, os, shutil, sys

import numpy as np
import PIL.Image
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import safetensors_writer  # noqa: E402
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)
from transformers import tokenization_utils_base as tub
if "__str__" not in tub.AddedToken.__dict__:  # transformers 4.30 without `tokenizers` (see gen_strength.py)
    tub.AddedToken.__str__ = lambda self: self.content
from diffusers import (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline,
                       StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline)
import diffusers, transformers

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(REPO, "reference", "sdxl-img2img"))
args = ap.parse_args()
OUT = os.path.abspath(args.out)
BASE = os.path.join(REPO, "reference", "sdxl")
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_sdxl_img2img.py"}


def save(path, tensors, extra_meta=None):
    safetensors_writer.write(path, tensors, dict(META, **(extra_meta or {})))


os.makedirs(OUT, exist_ok=True)
for entry in os.listdir(OUT):  # a fresh set, but the hand-written README.md stays
    if entry != "README.md":
        p = os.path.join(OUT, entry)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

UNET_FILE = "unet/diffusion_pytorch_model.safetensors"
with open(os.path.join(BASE, UNET_FILE), "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
with open(os.path.join(OUT, "components.json"), "w") as f:
    json.dump({"components_from": "../sdxl", "sha256": {UNET_FILE: digest}}, f, indent=1)
    f.write("\n")

base = StableDiffusionXLPipeline.from_pretrained(BASE, torch_dtype=torch.float32, add_watermarker=False)
SCHED = dict(base.scheduler.config)
SCHEDULERS = {"euler": lambda: EulerDiscreteScheduler.from_config(SCHED),
              "euler_a": lambda: EulerAncestralDiscreteScheduler.from_config(SCHED)}
# reference/img2img's 16 x 16 picture and reference/inpaint's mask (white = repaint), each pixel doubled to 32 x 32
INIT = PIL.Image.open(os.path.join(REPO, "reference", "img2img", "init.png")).convert("RGB").resize((32, 32), PIL.Image.NEAREST)
MASK = PIL.Image.open(os.path.join(REPO, "reference", "inpaint", "mask.png")).convert("RGB").resize((32, 32), PIL.Image.NEAREST)
INIT.save(f"{OUT}/init.png")
MASK.save(f"{OUT}/mask.png")
assert np.array_equal(np.array(PIL.Image.open(f"{OUT}/init.png").convert("RGB")), np.array(INIT))
report = {"versions": META}


def pipe(kind, sname):
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{OUT}/scheduler_{sname}")
    cls = StableDiffusionXLInpaintPipeline if kind == "inpaint" else StableDiffusionXLImg2ImgPipeline
    p = cls(vae=base.vae, text_encoder=base.text_encoder, text_encoder_2=base.text_encoder_2, tokenizer=base.tokenizer,
            tokenizer_2=base.tokenizer_2, unet=base.unet, scheduler=sch, requires_aesthetics_score=False,
            force_zeros_for_empty_prompt=base.config.force_zeros_for_empty_prompt, add_watermarker=False)
    p.set_progress_bar_config(disable=True)
    return p


def expected_rows(micro, batch, size=32):
    """The rule this set pins: the image pipelines' _get_add_time_ids without aesthetic scores, rows in blocks."""
    original = micro.get("original_size") or (size, size)
    crop = micro.get("crops_coords_top_left", (0, 0))
    target = micro.get("target_size") or (size, size)
    pos = list(original + crop + target)
    neg = list((micro.get("negative_original_size") or original) + crop + (micro.get("negative_target_size") or target))
    return [neg] * batch + [pos] * batch


def record(kind, sname, steps, strength, guidance, batch, seed, prompt, negative, micro):
    p = pipe(kind, sname)
    with torch.no_grad():
        pe, npe, ppe, nppe = p.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                             do_classifier_free_guidance=True, negative_prompt=negative)
    rec = {"init_image": p.image_processor.preprocess(INIT), "noise_seed": torch.tensor(seed),
           "strength": torch.tensor(float(strength)), "num_inference_steps": torch.tensor(steps), "cond_emb": pe,
           "uncond_emb": npe, "cond_pooled": ppe, "uncond_pooled": nppe, "guidance_scale": torch.tensor(float(guidance))}
    if kind == "inpaint":
        rec["mask"] = p.mask_processor.preprocess(MASK, height=32, width=32)
    rows = {}

    def cb(pipe_, i, t, kw):
        rec[f"step{i}_latents_out"] = kw["latents"].clone()
        rows.update(add_time_ids=kw["add_time_ids"].clone())
        return kw
    call = dict(prompt=prompt, negative_prompt=negative, image=INIT, strength=strength, num_inference_steps=steps,
                guidance_scale=guidance, num_images_per_prompt=batch, **micro)
    if kind == "inpaint":
        call.update(mask_image=MASK, height=32, width=32)
    with torch.no_grad():
        lat = p(**call, output_type="latent", callback_on_step_end=cb,
                callback_on_step_end_tensor_inputs=["latents", "add_time_ids"],
                generator=torch.Generator().manual_seed(seed)).images
        img = p(**call, output_type="pt", generator=torch.Generator().manual_seed(seed)).images
    got = rows["add_time_ids"]                                                          # [2B, 6]
    assert got.tolist() == [[float(v) for v in r] for r in expected_rows(micro, batch)], got
    n = sum(k.endswith("_latents_out") for k in rec)
    rec["timesteps"] = p.scheduler.timesteps[len(p.scheduler.timesteps) - n:]
    rec["negative_add_time_ids"], rec["add_time_ids"] = got[0:1], got[batch:batch + 1]
    rec.update({"final_latents": lat, "image_01": img})
    name = f"{kind}_{sname}_s{strength:g}" + (f"_b{batch}" if batch > 1 else "")
    report[f"{name}_timesteps"] = rec["timesteps"].tolist()
    report[f"{name}_add_time_ids_rows"] = got.tolist()
    meta = {"prompt": prompt, "negative_prompt": negative}
    meta.update({k: json.dumps(list(v)) for k, v in micro.items()})
    save(f"{OUT}/{name}.safetensors", rec, meta)


PROMPT = "a photograph of an astronaut riding a horse"
# two images with every positive size, and a negative original size alone: the negative rows take it with the positive
# crop and target size, B negative rows then B positive ones
record("img2img", "euler", 6, 0.6, 5.0, 2, 51, PROMPT, "blurry",
       {"original_size": (40, 24), "crops_coords_top_left": (4, 12), "target_size": (24, 40),
        "negative_original_size": (8, 56)})
# both negative sizes and a negative crop the image pipeline does not read, ancestral noise
record("img2img", "euler_a", 5, 0.5, 5.0, 1, 52, PROMPT, "blurry",
       {"crops_coords_top_left": (2, 6), "negative_original_size": (8, 56), "negative_crops_coords_top_left": (6, 2),
        "negative_target_size": (28, 8)})
# inpainting with the base's 4-channel UNet, two images, a negative target size alone
record("inpaint", "euler", 8, 0.75, 5.0, 2, 53, PROMPT, "blurry", {"negative_target_size": (16, 48)})

with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1)
    f.write("\n")
print("wrote", OUT)
