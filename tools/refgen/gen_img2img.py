"""Reference sets for reference/img2img/ (docs/VERIFY.md loop format plus the img2img tensors below), recorded with
diffusers 0.27.2 / transformers 4.30.0 on CPU fp32 over the tiny random-weight models of the shared reference
(tiny/unet, tiny/vae, tiny/text_encoder): StableDiffusionImg2ImgPipeline, one loop per scheduler and strength.

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 tools/refgen/gen_img2img.py \
        [--tiny ../shared/reference/tiny] [--tokenizer ../shared/reference/tokenizer] [--out reference/img2img]

Writes init.png (the 16x16 RGB init image) and img2img_<scheduler>_s<strength>.safetensors, each holding:
  init_image        [1, 3, 16, 16] the image as VaeImageProcessor.preprocess gives it, in [-1, 1]
  posterior_mean    [1, 4, 8, 8]   vae.encode(init_image).latent_dist.mean
  posterior_sample  [1, 4, 8, 8]   latent_dist.sample(generator): the generator's first draw
  image_latents     [B, 4, 8, 8]   scaling_factor * posterior_sample, repeated per image
  noise             [B, 4, 8, 8]   the generator's second draw
  start_latents     [B, 4, 8, 8]   scheduler.add_noise(image_latents, noise, timesteps[:1]) after set_begin_index
  full_timesteps, timesteps (the sliced ones), strength, num_inference_steps, noise_seed, cond_emb, uncond_emb,
  guidance_scale, step<i>_{guided,latents_out}, final_latents, image_raw, image_01
The manual loop is checked against StableDiffusionImg2ImgPipeline fed the same prompt, image and generator (max |diff|
of the output image must be 0); the script stops if it is not.
"""
import argparse, inspect, json, os, sys

import numpy as np
import PIL.Image
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import strength_helpers  # noqa: E402

OUT, g = strength_helpers.load("gen_img2img.py", "img2img")
save, components_json, SCHEDULERS = g["save"], g["components_json"], dict(g["SCHEDULERS"])
unet, vae, text_encoder, tok, embed = g["unet"], g["vae"], g["text_encoder"], g["tok"], g["embed"]
from diffusers import StableDiffusionImg2ImgPipeline, LCMScheduler
from diffusers.utils.torch_utils import randn_tensor

SD = g["SD"]
SCHEDULERS["lcm"] = lambda: LCMScheduler(**SD, original_inference_steps=50, set_alpha_to_one=False)
report = {"versions": g["META"]}


def init_image():
    """16x16: a diagonal gradient with a bright square and a dark disc (fixed pixels, no RNG)."""
    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([x * 16, y * 16, (x + y) * 8], axis=-1).astype(np.float64)
    rgb[3:8, 9:14] = [250, 240, 30]
    rgb[((x - 5) ** 2 + (y - 11) ** 2) <= 9] = [20, 30, 120]
    return PIL.Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def record(pil, sname, steps, strength, guidance, per_prompt, seed, prompt, negative):
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{OUT}/scheduler_{sname}")
    pipe = StableDiffusionImg2ImgPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                                          scheduler=sch.__class__.from_config(sch.config), safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    image = pipe.image_processor.preprocess(pil)                                     # [1, 3, 16, 16] in [-1, 1]
    cond, uncond = embed([prompt]), embed([negative])                               # [1, 77, D]
    batch = per_prompt
    cond_b, uncond_b = cond.repeat_interleave(batch, 0), uncond.repeat_interleave(batch, 0)
    gen = torch.Generator().manual_seed(seed)
    sch.set_timesteps(steps)
    full = sch.timesteps.clone()
    init_timestep = min(int(steps * strength), steps)
    t_start = max(steps - init_timestep, 0)
    timesteps = sch.timesteps[t_start * sch.order:]
    if hasattr(sch, "set_begin_index"): sch.set_begin_index(t_start * sch.order)
    with torch.no_grad():
        dist = vae.encode(image).latent_dist
        posterior = dist.sample(gen)                                                # [1, 4, 8, 8]
        image_latents = torch.cat([vae.config.scaling_factor * posterior] * batch, dim=0)  # [B, 4, 8, 8]
        noise = randn_tensor(image_latents.shape, generator=gen, dtype=torch.float32)
        lat = sch.add_noise(image_latents, noise, timesteps[:1].repeat(batch))
    rec = {"init_image": image, "posterior_mean": dist.mean, "posterior_sample": posterior,
           "image_latents": image_latents, "noise": noise, "start_latents": lat, "noise_seed": torch.tensor(seed),
           "full_timesteps": full, "timesteps": timesteps.clone(), "strength": torch.tensor(float(strength)),
           "num_inference_steps": torch.tensor(steps), "cond_emb": cond, "uncond_emb": uncond,
           "guidance_scale": torch.tensor(float(guidance))}
    extra = {"generator": gen} if "generator" in inspect.signature(sch.step).parameters else {}
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            if guidance > 1:   # classifier-free guidance, as the pipeline's do_classifier_free_guidance
                inp = sch.scale_model_input(torch.cat([lat] * 2), t)
                nu, nt = unet(inp, t, encoder_hidden_states=torch.cat([uncond_b, cond_b])).sample.chunk(2)
                guided = nu + guidance * (nt - nu)
            else:
                inp = sch.scale_model_input(lat, t)
                guided = unet(inp, t, encoder_hidden_states=cond_b).sample
            lat = sch.step(guided, t, lat, **extra).prev_sample
            rec.update({f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        raw = vae.decode(lat / vae.config.scaling_factor).sample
    rec.update({"final_latents": lat, "image_raw": raw, "image_01": (raw / 2 + 0.5).clamp(0, 1)})
    with torch.no_grad():
        out = pipe(prompt=prompt, negative_prompt=negative, image=pil, strength=strength, num_inference_steps=steps,
                   guidance_scale=guidance, num_images_per_prompt=per_prompt, output_type="pt",
                   generator=torch.Generator().manual_seed(seed)).images
    name = f"img2img_{sname}_s{strength:g}" + (f"_b{batch}" if batch > 1 else "")
    diff = float((out - rec["image_01"]).abs().max())
    report[f"{name}_pipeline_image01_maxabs_diff"] = diff
    report[f"{name}_timesteps"] = timesteps.tolist()
    assert diff == 0.0, f"{name}: the manual loop differs from StableDiffusionImg2ImgPipeline by {diff}"
    save(f"{OUT}/{name}.safetensors", rec)


os.makedirs(OUT, exist_ok=True)
pil = init_image()
pil.save(f"{OUT}/init.png")
assert np.array_equal(np.array(PIL.Image.open(f"{OUT}/init.png").convert("RGB")), np.array(pil))
PROMPT, NEG = "a photograph of an astronaut riding a horse", "blurry"
for s in ("euler", "ddim", "dpmpp2m"):
    for strength in (0.75, 0.4):
        record(pil, s, 10, strength, 7.5, 1, 21, PROMPT, NEG)
for s in ("euler_a", "lms", "pndm", "dpmpp2m_karras"):
    record(pil, s, 10, 0.6, 7.5, 1, 22, PROMPT, NEG)
record(pil, "euler_a", 8, 0.5, 5.0, 2, 23, PROMPT, NEG)        # a batch of 2 from one image
record(pil, "lcm", 4, 0.5, 1.0, 1, 24, PROMPT, NEG)            # LCM, guidance off: one UNet row
components_json(OUT, ["unet", "vae"])
with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
