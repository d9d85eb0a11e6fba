"""reference/sdxl-refiner/: a tiny random-weight Stable Diffusion XL refiner (stabilityai/stable-diffusion-xl-refiner-1.0's
layout) as a complete StableDiffusionXLImg2ImgPipeline folder (text_encoder_2 and tokenizer_2 only, a UNet whose added
embedding reads 5 time ids: original size, crop top-left, aesthetic score; requires_aesthetics_score true,
force_zeros_for_empty_prompt false), the IO of each component and image-to-image runs recorded through diffusers'
StableDiffusionXLImg2ImgPipeline; and reference/sdxl-refiner/single-file/: the same model as one .safetensors file in
the original (generative-models) layout, conditioner.embedders.0.model.* the OpenCLIP text tower alone.
diffusers 0.27.2 / transformers 4.30.0, CPU fp32 (docs/VERIFY.md formats).

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_sdxl_refiner.py [--out DIR]

Helpers come from gen_sdxl.py (tiny BPE, parameter perturbation, fp16 rounding) and gen_single_file.py (diffusers ->
LDM renames, the round-trip check), loaded without running their own sets. Every manual loop is checked against
StableDiffusionXLImg2ImgPipeline called with the prompt strings and the image (the script stops unless its image equals
the loop's bit for bit), and the single file against diffusers' own converter (convert_from_ckpt.py), tensor for tensor.
See reference/sdxl-refiner/README.md.
"""
import argparse, copy, inspect, json, os, shutil, sys

import numpy as np
import PIL.Image
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def helpers(file, end_marker):
    """The definitions of tools/refgen/FILE up to END_MARKER (its helpers, not its own sets), with its argparse given
    no arguments."""
    src = open(os.path.join(HERE, file)).read()
    src = src[:src.index(end_marker)].replace("args = ap.parse_args()", "args = ap.parse_args([])")
    g = {"__file__": os.path.join(HERE, file), "__name__": file[:-3] + "_helpers"}
    exec(compile(src, file, "exec"), g)
    return g


XL = helpers("gen_sdxl.py", "\nos.makedirs(OUT, exist_ok=True)")
SF = helpers("gen_single_file.py", "\nreport = {\"versions\": META,")
from transformers import CLIPTextConfig, CLIPTextModelWithProjection
from diffusers import (UNet2DConditionModel, AutoencoderKL, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
                       StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline)
from diffusers.pipelines.stable_diffusion.convert_from_ckpt import (
    convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, convert_open_clip_checkpoint)
import safetensors_writer  # noqa: E402
import diffusers, transformers

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(REPO, "reference", "sdxl-refiner"))
args = ap.parse_args()
OUT = os.path.abspath(args.out)
FILE_SET = os.path.join(OUT, "single-file")
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_sdxl_refiner.py"}


def save(path, tensors, extra_meta=None):
    safetensors_writer.write(path, tensors, dict(META, **(extra_meta or {})), safetensors_writer.WITH_F16)


os.makedirs(OUT, exist_ok=True)
for entry in os.listdir(OUT):  # a fresh set, but the hand-written README.md stays
    if entry != "README.md":
        p = os.path.join(OUT, entry)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

# ---- the model: the refiner's layout at tiny sizes ----
# UNet: as the refiner, the last level has no attention (DownBlock2D, CrossAttnDownBlock2D, DownBlock2D) while the mid
# block has; cross-attention reads text_encoder_2 alone (64 wide); add_embedding reads 5 time ids x 8 + the 32 of
# text_encoder_2's projection (the refiner: 5 x 256 + 1280 = 2560). 16 x 16 latents (32 x 32 pictures), so that the
# last level's group norms (32 groups of 32 channels, as a single file's config has them) see 4 x 4 values, not 2 x 2,
# which would make the random model too ill-conditioned for f16 backends to follow its last steps
HIDDEN, PROJ, TIME_DIM = 64, 32, 8
torch.manual_seed(600)
unet = UNet2DConditionModel(
    sample_size=16, in_channels=4, out_channels=4, block_out_channels=(32, 32, 32), layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 2, 2),
    use_linear_projection=True, transformer_layers_per_block=2, cross_attention_dim=HIDDEN,
    addition_embed_type="text_time", addition_time_embed_dim=TIME_DIM,
    projection_class_embeddings_input_dim=5 * TIME_DIM + PROJ, norm_num_groups=32).eval()
XL["perturb_constant_params"](unet, 601)
torch.manual_seed(602)
vae = AutoencoderKL(block_out_channels=(32, 32), in_channels=3, out_channels=3, latent_channels=4,
                    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                    layers_per_block=1, sample_size=32, scaling_factor=0.13025, force_upcast=True).eval()
XL["perturb_constant_params"](vae, 603)
torch.manual_seed(604)   # OpenCLIP ViT-bigG's text tower as CLIPTextModelWithProjection (64 channels per head, as CLIP)
text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(
    vocab_size=1000, hidden_size=HIDDEN, intermediate_size=37, num_hidden_layers=3, num_attention_heads=HIDDEN // 64,
    max_position_embeddings=77, layer_norm_eps=1e-5, projection_dim=PROJ, bos_token_id=998, eos_token_id=999,
    pad_token_id=0, hidden_act="gelu")).eval()
XL["perturb_constant_params"](text_encoder_2, 605)
tokenizer_2 = XL["write_tiny_bpe"](f"{OUT}/tokenizer_2", "!")  # the refiner's tokenizer_2 pads with "!" (id 0)
SDXL_SCHED = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                  steps_offset=1, timestep_spacing="leading", interpolation_type="linear", use_karras_sigmas=False,
                  prediction_type="epsilon")  # the refiner's scheduler/ (and convert_from_ckpt's for an SDXL file)


def refiner_pipe(scheduler):
    p = StableDiffusionXLImg2ImgPipeline(vae=vae, text_encoder=None, text_encoder_2=text_encoder_2, tokenizer=None,
                                         tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler,
                                         requires_aesthetics_score=True, force_zeros_for_empty_prompt=False,
                                         add_watermarker=False)
    p.set_progress_bar_config(disable=True)
    return p


pipe = refiner_pipe(EulerDiscreteScheduler(**SDXL_SCHED))
for m in (unet, vae, text_encoder_2): XL["round_to_half"](m)
pipe.save_pretrained(OUT, safe_serialization=True)
for name, m in (("unet", unet), ("vae", vae), ("text_encoder_2", text_encoder_2)):
    copy.deepcopy(m).half().save_pretrained(f"{OUT}/{name}", safe_serialization=True)  # fp16 files, as shared checkpoints
report = {"versions": META}
PROMPTS = ["", "a photograph of an astronaut riding a horse", "a red cube on a wooden table"]


def ids_of(prompts):
    return tokenizer_2(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def component_io(set_dir):
    with torch.no_grad():
        ids = ids_of(PROMPTS)
        o = text_encoder_2(ids, output_hidden_states=True)
        save(f"{set_dir}/text_encoder_2_io.safetensors", {
            "input_ids": ids, "last_hidden_state": o.last_hidden_state, "text_embeds": o.text_embeds,
            "hidden_state_penultimate": o.hidden_states[-2],  # what the refiner conditions on
            "hidden_state_clip_skip1": text_encoder_2.text_model.final_layer_norm(o.hidden_states[-2])})
        g = torch.Generator().manual_seed(610)
        sample = torch.randn((2, 4, 16, 16), generator=g)
        ehs = torch.randn((2, 77, HIDDEN), generator=g)
        text_embeds = torch.randn((2, PROJ), generator=g)
        time_ids = torch.tensor([[32.0, 32.0, 0.0, 0.0, 6.0], [1024.0, 768.0, 32.0, 8.0, 2.5]])  # size, crop, aesthetic
        cond = {"text_embeds": text_embeds, "time_ids": time_ids}
        save(f"{set_dir}/unet_io.safetensors", {
            "sample": sample, "timesteps": torch.tensor([10, 500]), "encoder_hidden_states": ehs,
            "text_embeds": text_embeds, "time_ids": time_ids,
            "out": unet(sample, torch.tensor([10, 500]), encoder_hidden_states=ehs, added_cond_kwargs=cond).sample,
            "out_t500_scalar": unet(sample, 500, encoder_hidden_states=ehs, added_cond_kwargs=cond).sample})
        lat = torch.randn((1, 4, 8, 8), generator=g)
        img = torch.rand((1, 3, 16, 16), generator=g) * 2 - 1
        d = vae.encode(img).latent_dist
        save(f"{set_dir}/vae_io.safetensors", {"latents": lat, "decoded": vae.decode(lat).sample, "enc_image": img,
                                                "enc_mean": d.mean, "enc_logvar": d.logvar})


component_io(OUT)
with torch.no_grad():  # the refiner's encode_prompt: text_encoder_2's hidden_states[-2] alone, no concatenation
    pe, _, ppe, _ = pipe.encode_prompt(PROMPTS[1:], device="cpu", num_images_per_prompt=1,
                                       do_classifier_free_guidance=False)
    o = text_encoder_2(ids_of(PROMPTS[1:]), output_hidden_states=True)
    report["encode_prompt_maxabs_diff"] = max(float((pe - o.hidden_states[-2]).abs().max()),
                                              float((ppe - o.text_embeds).abs().max()))
    assert report["encode_prompt_maxabs_diff"] == 0.0

SCHEDULERS = {"euler": lambda: EulerDiscreteScheduler(**SDXL_SCHED),
              "euler_a": lambda: EulerAncestralDiscreteScheduler(**{k: v for k, v in SDXL_SCHED.items()
                                                                     if k not in ("interpolation_type", "use_karras_sigmas")})}
# the 16 x 16 init picture of reference/img2img (tools/refgen/gen_img2img.py), read from the committed file and doubled
# (each pixel 2 x 2) to the refiner's 32 x 32
INIT = PIL.Image.open(os.path.join(REPO, "reference", "img2img", "init.png")).convert("RGB").resize((32, 32),
                                                                                                   PIL.Image.NEAREST)


def record(set_dir, sname, steps, strength, guidance, per_prompt, seed, prompt, negative, micro=None, name=None,
           latents_in=None, denoising_start=None, per_image=False):
    """StableDiffusionXLImg2ImgPipeline's loop by hand, every intermediate recorded, then the pipeline itself with the
    prompt strings, which must agree bit for bit. `micro`: original_size, crops_coords_top_left, aesthetic_score,
    negative_aesthetic_score and the negative_* sizes as __call__ takes them (diffusers' (h, w) and (top, left)).
    `denoising_start`: the loop starts where the timesteps fall below its cutoff, from the latents unnoised (strength
    unread); `latents_in`: diffusers' `image` given as latents [B, 4, h, w] (no VAE, no scaling), e.g. a base's
    denoising_end output. `per_image`: image i from its own generator seeded seed + i (diffusers' list of generators,
    which encodes the picture once per image and samples each posterior with its own; AUTOMATIC1111's batch seeds)."""
    micro = dict(micro or {})
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{set_dir}/scheduler_{sname}")
    p = refiner_pipe(sch.__class__.from_config(sch.config))
    image = p.image_processor.preprocess(INIT)                                        # [1, 3, 32, 32] in [-1, 1]
    height, width = image.shape[-2:] if latents_in is None else [d * 2 for d in latents_in.shape[-2:]]
    with torch.no_grad():   # per image: the prompt as a list, one row per image, as the pipeline is called below
        pe, npe, ppe, nppe = p.encode_prompt([prompt] * per_prompt if per_image else prompt, device="cpu",
                                             num_images_per_prompt=1, do_classifier_free_guidance=guidance > 1,
                                             negative_prompt=([negative] * per_prompt if per_image and negative is not None
                                                              else negative))
    # _get_add_time_ids with requires_aesthetics_score: (original h, w, crop top, left, aesthetic score); the
    # negative row from negative_original_size (default original_size), negative_crops_coords_top_left (default
    # (0, 0)) and negative_aesthetic_score; target sizes are unused
    original = micro.get("original_size") or (height, width)
    add_time_ids = torch.tensor([list(original + micro.get("crops_coords_top_left", (0, 0))
                                      + (micro.get("aesthetic_score", 6.0),))], dtype=torch.float32)
    negative_ids = torch.tensor([list((micro.get("negative_original_size") or original)
                                      + micro.get("negative_crops_coords_top_left", (0, 0))
                                      + (micro.get("negative_aesthetic_score", 2.5),))], dtype=torch.float32)
    batch = per_prompt
    gen = [torch.Generator().manual_seed(seed + i) for i in range(batch)] if per_image else torch.Generator().manual_seed(seed)
    sch.set_timesteps(steps)
    full = sch.timesteps.clone()
    if denoising_start is None:                                                       # get_timesteps
        t_start = max(steps - min(int(steps * strength), steps), 0)
        timesteps = sch.timesteps[t_start * sch.order:]
    else:   # the timesteps below the cutoff (Euler's order is 1: no second-order adjustment)
        cutoff = int(round(sch.config.num_train_timesteps - denoising_start * sch.config.num_train_timesteps))
        timesteps = sch.timesteps[-int((sch.timesteps < cutoff).sum()):]
    rec = {}
    with torch.no_grad():
        if latents_in is None:
            dist = vae.encode(image).latent_dist
            if per_image:                                                             # one sample per generator
                posterior = torch.cat([dist.sample(g) for g in gen], dim=0)           # [B, 4, 16, 16]
                image_latents = vae.config.scaling_factor * posterior
            else:
                posterior = dist.sample(gen)                                          # [1, 4, 16, 16]
                image_latents = torch.cat([vae.config.scaling_factor * posterior] * batch, dim=0)
            rec.update({"init_image": image, "posterior_mean": dist.mean, "posterior_sample": posterior})
        else:
            image_latents = torch.cat([latents_in] * (batch // latents_in.shape[0]), dim=0)
            rec["given_image_latents"] = latents_in
        if denoising_start is None:
            noise = (torch.cat([torch.randn((1,) + tuple(image_latents.shape[1:]), generator=g, dtype=torch.float32)
                                for g in gen]) if per_image
                     else torch.randn(image_latents.shape, generator=gen, dtype=torch.float32))
            lat = sch.add_noise(image_latents, noise, timesteps[:1].repeat(batch))
            rec["noise"] = noise
        else:
            lat = image_latents                                                       # add_noise=False
            rec["denoising_start"] = torch.tensor(float(denoising_start))
    if per_image:
        rec["noise_seed_per_image"] = torch.tensor(1)
    rec.update({"image_latents": image_latents, "start_latents": lat, "noise_seed": torch.tensor(seed),
                "full_timesteps": full, "timesteps": timesteps.clone(), "strength": torch.tensor(float(strength)),
                "num_inference_steps": torch.tensor(steps), "cond_emb": pe, "cond_pooled": ppe,
                "add_time_ids": add_time_ids, "guidance_scale": torch.tensor(float(guidance))})
    guided_run = guidance > 1
    if guided_run:
        rec.update({"uncond_emb": npe, "uncond_pooled": nppe, "negative_add_time_ids": negative_ids})
    # as __call__ lays the rows out: B unconditional rows then B conditional ones, time ids too (unlike the text to
    # image pipeline, which repeats cat([negative, positive]))
    r = batch // pe.shape[0]                                                          # 1 row per prompt, or per image
    emb = torch.cat([npe.repeat(r, 1, 1), pe.repeat(r, 1, 1)]) if guided_run else pe.repeat(r, 1, 1)
    added = ({"text_embeds": torch.cat([nppe.repeat(r, 1), ppe.repeat(r, 1)]),
              "time_ids": torch.cat([negative_ids.repeat(batch, 1), add_time_ids.repeat(batch, 1)])} if guided_run
             else {"text_embeds": ppe.repeat(r, 1), "time_ids": add_time_ids.repeat(batch, 1)})
    extra = {"generator": gen} if "generator" in inspect.signature(sch.step).parameters else {}
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            inp = sch.scale_model_input(torch.cat([lat] * 2) if guided_run else lat, t)
            out = unet(inp, t, encoder_hidden_states=emb, added_cond_kwargs=added).sample
            if guided_run:
                nu, nt = out.chunk(2)
                guided = nu + guidance * (nt - nu)
                rec.update({f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt})
            else:
                guided = out
            if sname == "euler_a":  # the draw the step is about to make, from a copy of the generator's state
                peeks = []
                for g in (gen if per_image else [gen]):
                    peek = torch.Generator(); peek.set_state(g.get_state()); peeks.append(peek)
                rec[f"step{i}_ancestral_noise"] = (torch.cat([torch.randn((1,) + tuple(guided.shape[1:]), generator=pk,
                                                                          dtype=guided.dtype) for pk in peeks])
                                                   if per_image else
                                                   torch.randn(guided.shape, generator=peeks[0], dtype=guided.dtype))
            lat = sch.step(guided, t, lat, **extra).prev_sample
            rec.update({f"step{i}_model_input": inp, f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        raw = vae.decode(lat / vae.config.scaling_factor).sample
    rec.update({"final_latents": lat, "image_raw": raw, "image_01": (raw / 2 + 0.5).clamp(0, 1)})
    with torch.no_grad():
        if per_image:   # diffusers 0.27.2 encodes image[i] with generator[i]: the picture once per image, a prompt each
            got = p(prompt=[prompt] * batch, negative_prompt=None if negative is None else [negative] * batch,
                    image=[INIT] * batch, strength=strength, num_inference_steps=steps, guidance_scale=guidance,
                    output_type="pt", generator=[torch.Generator().manual_seed(seed + i) for i in range(batch)],
                    **micro).images
        else:
            got = p(prompt=prompt, negative_prompt=negative, image=INIT if latents_in is None else latents_in,
                    strength=strength, num_inference_steps=steps, guidance_scale=guidance,
                    num_images_per_prompt=per_prompt, output_type="pt", denoising_start=denoising_start,
                    generator=torch.Generator().manual_seed(seed), **micro).images
    name = name or f"img2img_{sname}_s{strength:g}" + (f"_b{batch}" if batch > 1 else "") + (
        f"_start{denoising_start:g}" if denoising_start is not None else "") + ("_per_image" if per_image else "")
    diff = float((got - rec["image_01"]).abs().max())
    key = ("" if set_dir == OUT else os.path.relpath(set_dir, OUT) + "/") + name
    report[f"{key}_pipeline_image01_maxabs_diff"] = diff
    report[f"{key}_timesteps"] = timesteps.tolist()
    assert diff == 0.0, f"{name}: the manual loop differs from StableDiffusionXLImg2ImgPipeline by {diff}"
    meta = {"prompt": prompt, "negative_prompt": "" if negative is None else negative,
            "negative_prompt_is_none": str(negative is None)}
    meta.update({k: json.dumps(list(v) if isinstance(v, tuple) else v) for k, v in micro.items()})
    rec.update({k: torch.tensor(float(micro[k])) for k in ("aesthetic_score", "negative_aesthetic_score") if k in micro})
    save(f"{set_dir}/{name}.safetensors", rec, meta)


def record_inpaint(sname, steps, strength, guidance, seed, prompt, negative):
    """The refiner's inpainting (StableDiffusionXLInpaintPipeline, 4-channel UNet: each step's latents blended with the
    picture's noised to the next timestep outside the mask), recorded through the pipeline itself as
    tools/refgen/gen_inpaint.py records SD's: callback_on_step_end sees the blended latents and the time-id rows."""
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{OUT}/scheduler_{sname}")
    p = StableDiffusionXLInpaintPipeline(vae=vae, text_encoder=None, text_encoder_2=text_encoder_2, tokenizer=None,
                                         tokenizer_2=tokenizer_2, unet=unet, scheduler=sch,
                                         requires_aesthetics_score=True, force_zeros_for_empty_prompt=False,
                                         add_watermarker=False)
    p.set_progress_bar_config(disable=True)
    with torch.no_grad():
        pe, npe, ppe, nppe = p.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                             do_classifier_free_guidance=True, negative_prompt=negative)
    rec = {"init_image": p.image_processor.preprocess(INIT), "mask": p.mask_processor.preprocess(MASK, height=32, width=32),
           "noise_seed": torch.tensor(seed), "strength": torch.tensor(float(strength)),
           "num_inference_steps": torch.tensor(steps), "cond_emb": pe, "uncond_emb": npe, "cond_pooled": ppe,
           "uncond_pooled": nppe, "guidance_scale": torch.tensor(float(guidance))}
    rows = {}

    def cb(pipe, i, t, kw):
        rec[f"step{i}_latents_out"] = kw["latents"].clone()
        rows.update(add_time_ids=kw["add_time_ids"].clone())
        return kw
    args = dict(prompt=prompt, negative_prompt=negative, image=INIT, mask_image=MASK, strength=strength, height=32,
                width=32, num_inference_steps=steps, guidance_scale=guidance)
    with torch.no_grad():
        lat = p(**args, output_type="latent", callback_on_step_end=cb, callback_on_step_end_tensor_inputs=["latents",
                "add_time_ids"], generator=torch.Generator().manual_seed(seed)).images
        img = p(**args, output_type="pt", generator=torch.Generator().manual_seed(seed)).images
    n = sum(k.endswith("_latents_out") for k in rec)
    rec["timesteps"] = p.scheduler.timesteps[len(p.scheduler.timesteps) - n:]
    # the UNet's rows: [negative, positive] time ids (B = 1), the refiner's 5
    rec["negative_add_time_ids"], rec["add_time_ids"] = rows["add_time_ids"][0:1], rows["add_time_ids"][1:2]
    assert rec["add_time_ids"].tolist() == [[32.0, 32.0, 0.0, 0.0, 6.0]], rec["add_time_ids"]
    assert rec["negative_add_time_ids"].tolist() == [[32.0, 32.0, 0.0, 0.0, 2.5]], rec["negative_add_time_ids"]
    rec.update({"final_latents": lat, "image_01": img})
    name = f"inpaint_{sname}_s{strength:g}"
    report[f"{name}_timesteps"] = rec["timesteps"].tolist()
    save(f"{OUT}/{name}.safetensors", rec, {"prompt": prompt, "negative_prompt": negative})


INIT.save(f"{OUT}/init.png")
assert np.array_equal(np.array(PIL.Image.open(f"{OUT}/init.png").convert("RGB")), np.array(INIT))
PROMPT = PROMPTS[1]
# the pipeline's defaults: no negative prompt (force_zeros_for_empty_prompt false: "" is encoded), aesthetic 6 / 2.5
record(OUT, "euler", 10, 0.3, 5.0, 1, 41, PROMPT, None)
record(OUT, "euler", 5, 0.6, 5.0, 1, 42, PROMPT, "blurry")
# every size and score argument, two images (rows: 2 unconditional, 2 conditional), ancestral noise
record(OUT, "euler_a", 6, 0.5, 5.0, 2, 43, PROMPT, "blurry",
       micro={"original_size": (40, 24), "crops_coords_top_left": (4, 12), "aesthetic_score": 7.5,
              "negative_aesthetic_score": 1.5, "negative_original_size": (8, 56),
              "negative_crops_coords_top_left": (6, 2)})
# the same with per-image seeds (43, 44): each image's posterior sample, noise and ancestral draws its own
record(OUT, "euler_a", 6, 0.5, 5.0, 2, 43, PROMPT, "blurry", per_image=True,
       micro={"original_size": (40, 24), "crops_coords_top_left": (4, 12), "aesthetic_score": 7.5,
              "negative_aesthetic_score": 1.5, "negative_original_size": (8, 56),
              "negative_crops_coords_top_left": (6, 2)})
record(OUT, "euler", 4, 0.5, 1.0, 1, 44, PROMPT, None)   # guidance off: one UNet row of positive time ids
# inpainting with the refiner: reference/inpaint's mask (white = repaint), doubled to 32 x 32 as the picture
MASK = PIL.Image.open(os.path.join(REPO, "reference", "inpaint", "mask.png")).convert("RGB").resize((32, 32), PIL.Image.NEAREST)
MASK.save(f"{OUT}/mask.png")
record_inpaint("euler", 8, 0.75, 5.0, 45, PROMPT, "blurry")

# ---- diffusers' "ensemble of expert denoisers": reference/sdxl's tiny SDXL base stops at denoising_end 0.6 of 10 Euler
# steps (its committed folder; ensemble-base/ replays that loop over it), and the refiner takes its latents on from
# denoising_start 0.6 (diffusers' image given as latents: no VAE, no noise)
from diffusers import StableDiffusionXLPipeline
BASE = os.path.join(REPO, "reference", "sdxl")
ENSEMBLE = os.path.join(OUT, "ensemble-base")
base = StableDiffusionXLPipeline.from_pretrained(BASE, torch_dtype=torch.float32, add_watermarker=False)
base.set_progress_bar_config(disable=True)


def base_loop(steps, end, guidance, seed, prompt, negative, size=32):
    """StableDiffusionXLPipeline's loop by hand up to denoising_end, every intermediate recorded, checked against the
    pipeline with output_type="latent" (bit for bit)."""
    sch = EulerDiscreteScheduler(**SDXL_SCHED)
    sch.save_config(f"{ENSEMBLE}/scheduler_euler")
    with torch.no_grad():
        pe, npe, ppe, nppe = base.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                                do_classifier_free_guidance=True, negative_prompt=negative)
    add_time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)   # original, crop, target
    gen = torch.Generator().manual_seed(seed)
    sch.set_timesteps(steps)
    cutoff = int(round(sch.config.num_train_timesteps - end * sch.config.num_train_timesteps))
    run = sch.timesteps[:len([t for t in sch.timesteps if t >= cutoff])]
    noise = torch.randn((1, 4, size // 2, size // 2), generator=gen, dtype=torch.float32)
    lat = noise * sch.init_noise_sigma
    rec = {"noise": noise, "noise_seed": torch.tensor(seed), "init_latents": lat, "timesteps": sch.timesteps.clone(),
           "num_inference_steps": torch.tensor(steps), "cond_emb": pe, "uncond_emb": npe, "cond_pooled": ppe,
           "uncond_pooled": nppe, "add_time_ids": add_time_ids, "guidance_scale": torch.tensor(float(guidance)),
           "init_noise_sigma": torch.tensor(float(sch.init_noise_sigma)), "denoising_end": torch.tensor(float(end))}
    emb = torch.cat([npe, pe])
    added = {"text_embeds": torch.cat([nppe, ppe]), "time_ids": add_time_ids.repeat(2, 1)}
    with torch.no_grad():
        for i, t in enumerate(run):
            inp = sch.scale_model_input(torch.cat([lat] * 2), t)
            nu, nt = base.unet(inp, t, encoder_hidden_states=emb, added_cond_kwargs=added).sample.chunk(2)
            guided = nu + guidance * (nt - nu)
            lat = sch.step(guided, t, lat).prev_sample
            rec.update({f"step{i}_model_input": inp, f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt,
                        f"step{i}_guided": guided, f"step{i}_latents_out": lat})
    rec["final_latents"] = lat
    p = StableDiffusionXLPipeline(vae=base.vae, text_encoder=base.text_encoder, text_encoder_2=base.text_encoder_2,
                                  tokenizer=base.tokenizer, tokenizer_2=base.tokenizer_2, unet=base.unet,
                                  scheduler=EulerDiscreteScheduler(**SDXL_SCHED), force_zeros_for_empty_prompt=True,
                                  add_watermarker=False)
    p.set_progress_bar_config(disable=True)
    with torch.no_grad():
        out = p(prompt=prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=guidance, height=size,
                width=size, denoising_end=end, output_type="latent", generator=torch.Generator().manual_seed(seed)).images
    name = f"loop_euler_cfg{guidance:g}_end{end:g}"
    diff = float((out - lat).abs().max())
    report[f"ensemble-base/{name}_pipeline_latents_maxabs_diff"] = diff
    report[f"ensemble-base/{name}_timesteps_run"] = run.tolist()
    assert diff == 0.0, f"{name}: the manual loop differs from StableDiffusionXLPipeline by {diff}"
    save(f"{ENSEMBLE}/{name}.safetensors", rec, {"prompt": prompt, "negative_prompt": negative})
    return lat


os.makedirs(ENSEMBLE)
handed = base_loop(10, 0.6, 5.0, 46, PROMPT, "blurry")                   # [1, 4, 16, 16], partly denoised
with open(os.path.join(ENSEMBLE, "components.json"), "w") as f:          # the base's committed folders, pinned
    json.dump({"components_from": "../../sdxl", "sha256": {
        "unet/diffusion_pytorch_model.safetensors": SF["sha256"](f"{BASE}/unet/diffusion_pytorch_model.safetensors")}},
        f, indent=1); f.write("\n")
record(OUT, "euler", 10, 0.3, 5.0, 1, 47, PROMPT, "blurry", latents_in=handed, denoising_start=0.6)

# ---- the single file: generative-models' refiner layout, conditioner.embedders.0.model = OpenCLIP alone ----
os.makedirs(FILE_SET)
dtype = torch.float16
sd = {c: {k: v.to(dtype) if v.is_floating_point() else v for k, v in m.state_dict().items()}
      for c, m in (("unet", unet), ("vae", vae), ("text_encoder_2", text_encoder_2))}
P = "conditioner.embedders.0.model."
ldm = {**SF["unet_to_ldm"](sd["unet"], unet.config), **SF["vae_to_ldm"](sd["vae"], vae.config),
       **SF["openclip_tower"](sd["text_encoder_2"], text_encoder_2.config.num_hidden_layers, P)}
ldm[P + "text_projection"] = sd["text_encoder_2"]["text_projection.weight"].T.contiguous()  # x @ P, [width, proj]
ldm[P + "logit_scale"] = torch.tensor(4.6052).to(dtype)  # OpenCLIP's contrastive temperature, unused
CKPT = "tiny-sdxl-refiner.safetensors"
save(os.path.join(FILE_SET, CKPT), {k: v for k, v in ldm.items()}, {"format": "pt"})
with open(os.path.join(FILE_SET, "tiny-sdxl-refiner.yaml"), "w") as f:  # generative-models' sd_xl_refiner.yaml, cut down
    f.write("model:\n  target: sgm.models.diffusion.DiffusionEngine\n  params:\n    scale_factor: 0.13025\n"
            "    network_config:\n      target: sgm.modules.diffusionmodules.openaimodel.UNetModel\n      params:\n"
            f"        adm_in_channels: {5 * TIME_DIM + PROJ}\n        num_classes: sequential\n"
            "        num_head_channels: 16 # 64 in the refiner\n        use_linear_in_transformer: True\n"
            f"        transformer_depth: 2\n        context_dim: {HIDDEN}\n")
with SF["PositionIdsLenient"]():  # convert_from_ckpt's SDXL-Refiner branch: text_encoder_2 from embedders.0.model
    check = {"unet": convert_ldm_unet_checkpoint(dict(ldm), dict(unet.config)),
             "vae": convert_ldm_vae_checkpoint(dict(ldm), dict(vae.config)),
             "text_encoder_2": convert_open_clip_checkpoint(dict(ldm), f"{OUT}/text_encoder_2", prefix=P,
                                                            has_projection=True, projection_dim=PROJ).state_dict()}
SF["assert_bit_equal"](check, {"unet": unet, "vae": vae, "text_encoder_2": text_encoder_2}, dtype)
report["single_file_round_trip"] = "bit-equal"
with open(os.path.join(FILE_SET, "components.json"), "w") as f:
    json.dump({"checkpoint": CKPT, "sha256": {CKPT: SF["sha256"](os.path.join(FILE_SET, CKPT))}}, f, indent=1); f.write("\n")
for n in ("text_encoder_2_io", "unet_io"):  # the folder's IO holds for the file's weights (bit-equal)
    shutil.copy(f"{OUT}/{n}.safetensors", f"{FILE_SET}/{n}.safetensors")
shutil.copy(f"{OUT}/init.png", f"{FILE_SET}/init.png")
record(FILE_SET, "euler", 5, 0.6, 5.0, 1, 42, PROMPT, "blurry")

with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
