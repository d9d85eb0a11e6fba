"""reference/sdxl/: a tiny random-weight Stable Diffusion XL base model as a complete diffusers folder (two CLIP text
encoders and tokenizers, a UNet with text_time added conditioning, the SDXL VAE config, an Euler scheduler), with the
IO tensors of each component and sampling loops recorded through diffusers' StableDiffusionXLPipeline.
diffusers 0.27.2 / transformers 4.30.0, CPU fp32 (docs/VERIFY.md formats, SDXL keys included).

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_sdxl.py [--out reference/sdxl]

The configs follow diffusers' own tiny SDXL test (tests/pipelines/stable_diffusion_xl/test_stable_diffusion_xl.py)
with SDXL's layout: DownBlock2D then CrossAttnDownBlock2D, per-block transformer depth, linear projections, an
added embedding of 6 time ids x addition_time_embed_dim plus text_encoder_2's projection_dim. Every manual loop is
checked against StableDiffusionXLPipeline called with the prompt strings (the script stops unless its image equals
the loop's bit for bit). See reference/sdxl/README.md.
"""
import argparse, copy, hashlib, inspect, json, os, shutil, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)
from transformers import tokenization_utils_base as tub
if "__str__" not in tub.AddedToken.__dict__:  # transformers 4.30 without `tokenizers` (see gen_strength.py)
    tub.AddedToken.__str__ = lambda self: self.content
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
from diffusers import (UNet2DConditionModel, AutoencoderKL, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
                       StableDiffusionXLPipeline)
import diffusers, transformers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(REPO, "reference", "sdxl"))
args = ap.parse_args()
OUT = os.path.abspath(args.out)
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_sdxl.py"}
def save(path, tensors, extra_meta=None):
    safetensors_writer.write(path, tensors, dict(META, **(extra_meta or {})))


def perturb_constant_params(model, seed):
    """Norm weights (=1) and biases (=0) are constant after default init; add 0.1 N(0,1) so swaps show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.numel() > 1 and bool(torch.all(p == p.flatten()[0])):
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def round_to_half(model):
    """Weights rounded to fp16 (stored so, to keep the set small); everything is computed in fp32 from them."""
    with torch.no_grad():
        for p in model.parameters(): p.copy_(p.half().float())


def byte_symbols():
    """GPT-2/CLIP's byte-to-unicode table: printable bytes map to themselves, the rest to 256 + n, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return [chr(c) for c in cs]


def write_tiny_bpe(d, pad_token):
    """A valid CLIP BPE of exactly 1,000 ids, as the runtime's ReferenceModelFolder.writeTinyBpe: the 256 byte symbols,
    the same with </w>, merges `x y</w>` of two lower-case letters up to id 997, <|startoftext|> 998, <|endoftext|> 999."""
    base = byte_symbols()
    vocab, merges = base + [s + "</w>" for s in base], []
    for a in "abcdefghijklmnopqrstuvwxyz":
        for b in "abcdefghijklmnopqrstuvwxyz":
            if len(vocab) < 998:
                merges.append(f"{a} {b}</w>"); vocab.append(f"{a}{b}</w>")
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/vocab.json", "w", encoding="utf-8") as f: json.dump({t: i for i, t in enumerate(vocab)}, f)
    with open(f"{d}/merges.txt", "w", encoding="utf-8") as f: f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    specials = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad_token,
                "unk_token": "<|endoftext|>"}
    with open(f"{d}/special_tokens_map.json", "w") as f: json.dump(specials, f, indent=1)
    with open(f"{d}/tokenizer_config.json", "w") as f:
        json.dump(dict(specials, model_max_length=77, tokenizer_class="CLIPTokenizer", do_lower_case=True), f, indent=1)
    return CLIPTokenizer.from_pretrained(d)


os.makedirs(OUT, exist_ok=True)
for entry in os.listdir(OUT):  # a fresh set, but the hand-written README.md stays
    if entry != "README.md":
        p = os.path.join(OUT, entry)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
# ---- the model: diffusers' tiny SDXL test configs, SDXL's layout ----
torch.manual_seed(0)
unet = UNet2DConditionModel(
    sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(2, 4), use_linear_projection=True, transformer_layers_per_block=(1, 2),
    cross_attention_dim=64, addition_embed_type="text_time", addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=6 * 8 + 32, norm_num_groups=32).eval()
perturb_constant_params(unet, 1)
torch.manual_seed(1)
vae = AutoencoderKL(block_out_channels=(32, 32), in_channels=3, out_channels=3, latent_channels=4,
                    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                    layers_per_block=1, sample_size=16, scaling_factor=0.13025, force_upcast=True).eval()
perturb_constant_params(vae, 2)
clip = dict(bos_token_id=998, eos_token_id=999, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-5,
            num_attention_heads=4, num_hidden_layers=3, vocab_size=1000, max_position_embeddings=77, projection_dim=32)
torch.manual_seed(2)
text_encoder = CLIPTextModel(CLIPTextConfig(**clip, pad_token_id=999, hidden_act="quick_gelu")).eval()  # CLIP ViT-L
perturb_constant_params(text_encoder, 3)
torch.manual_seed(3)
text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**clip, pad_token_id=0, hidden_act="gelu")).eval()  # bigG
perturb_constant_params(text_encoder_2, 4)
tokenizer = write_tiny_bpe(f"{OUT}/tokenizer", "<|endoftext|>")
tokenizer_2 = write_tiny_bpe(f"{OUT}/tokenizer_2", "!")  # SDXL's second tokenizer pads with "!" (id 0)
SDXL_SCHED = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                  steps_offset=1, timestep_spacing="leading", interpolation_type="linear", use_karras_sigmas=False,
                  prediction_type="epsilon")
pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                 tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet,
                                 scheduler=EulerDiscreteScheduler(**SDXL_SCHED), force_zeros_for_empty_prompt=True,
                                 add_watermarker=False)
pipe.set_progress_bar_config(disable=True)
for m in (unet, vae, text_encoder, text_encoder_2): round_to_half(m)
pipe.save_pretrained(OUT, safe_serialization=True)
for name, m in (("unet", unet), ("vae", vae), ("text_encoder", text_encoder), ("text_encoder_2", text_encoder_2)):
    copy.deepcopy(m).half().save_pretrained(f"{OUT}/{name}", safe_serialization=True)  # fp16 files, as shared checkpoints
report = {"versions": META}

PROMPTS = ["", "a photograph of an astronaut riding a horse", "a red cube on a wooden table"]


def ids_of(tok, prompts):
    return tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


# ---- tokenizers and text encoders ----
with open(f"{OUT}/tokenizations.json", "w") as f:
    json.dump([{"prompt": p, "hf_input_ids": ids_of(tokenizer, [p])[0].tolist()} for p in PROMPTS], f, indent=1)
with torch.no_grad():
    for name, tok, te in (("text_encoder", tokenizer, text_encoder), ("text_encoder_2", tokenizer_2, text_encoder_2)):
        ids = ids_of(tok, PROMPTS)
        o = te(ids, output_hidden_states=True)
        io = {"input_ids": ids, "last_hidden_state": o.last_hidden_state,
              "hidden_state_penultimate": o.hidden_states[-2],  # what SDXL conditions on: no final_layer_norm
              "hidden_state_clip_skip1": te.text_model.final_layer_norm(o.hidden_states[-2])}
        if name == "text_encoder": io["pooler_output"] = o.pooler_output
        else: io["text_embeds"] = o.text_embeds  # text_projection(pooled): SDXL's pooled prompt embedding
        save(f"{OUT}/{name}_io.safetensors", io)
    # encode_prompt as the pipeline runs it: both penultimate states concatenated, pooled from the second encoder
    pe, _, ppe, _ = pipe.encode_prompt(PROMPTS[1:], device="cpu", num_images_per_prompt=1,
                                       do_classifier_free_guidance=False)
    cat = torch.cat([text_encoder(ids_of(tokenizer, PROMPTS[1:]), output_hidden_states=True).hidden_states[-2],
                     text_encoder_2(ids_of(tokenizer_2, PROMPTS[1:]), output_hidden_states=True).hidden_states[-2]], -1)
    report["encode_prompt_concat_maxabs_diff"] = float((pe - cat).abs().max())
    assert report["encode_prompt_concat_maxabs_diff"] == 0.0

# ---- UNet with added conditioning; VAE ----
g = torch.Generator().manual_seed(5)
sample = torch.randn((2, 4, 8, 8), generator=g)
ehs = torch.randn((2, 77, 64), generator=g)
text_embeds = torch.randn((2, 32), generator=g)
time_ids = torch.tensor([[16.0, 16.0, 0.0, 0.0, 16.0, 16.0], [1024.0, 768.0, 32.0, 8.0, 512.0, 640.0]])
with torch.no_grad():
    cond = {"text_embeds": text_embeds, "time_ids": time_ids}
    out = unet(sample, torch.tensor([10, 500]), encoder_hidden_states=ehs, added_cond_kwargs=cond).sample
    out500 = unet(sample, 500, encoder_hidden_states=ehs, added_cond_kwargs=cond).sample
save(f"{OUT}/unet_io.safetensors", {"sample": sample, "timesteps": torch.tensor([10, 500]), "encoder_hidden_states": ehs,
                                     "text_embeds": text_embeds, "time_ids": time_ids, "out": out,
                                     "out_t500_scalar": out500})
with torch.no_grad():
    lat = torch.randn((1, 4, 8, 8), generator=g)
    img = torch.rand((1, 3, 16, 16), generator=g) * 2 - 1
    d = vae.encode(img).latent_dist
    save(f"{OUT}/vae_io.safetensors", {"latents": lat, "decoded": vae.decode(lat).sample, "enc_image": img,
                                        "enc_mean": d.mean, "enc_logvar": d.logvar})

SCHEDULERS = {"euler": lambda: EulerDiscreteScheduler(**SDXL_SCHED),
              "euler_a": lambda: EulerAncestralDiscreteScheduler(**{k: v for k, v in SDXL_SCHED.items()
                                                                     if k not in ("interpolation_type", "use_karras_sigmas")})}


def time_ids(original_size, crops_coords_top_left, target_size):
    """SDXL's six time ids as _get_add_time_ids lists them: original (h, w), crop (top, left), target (h, w). [1, 6]"""
    return torch.tensor([list(original_size + crops_coords_top_left + target_size)], dtype=torch.float32)


def loop(sname, steps, guidance, prompt, negative, per_prompt, seed, size=16, prompt_2=None, negative_2=None, micro=None,
         width=None, name=None):
    """The manual loop of docs/VERIFY.md with SDXL's added conditioning (pooled embeddings, time ids), then the same
    through StableDiffusionXLPipeline with the prompt strings, which must agree bit for bit. `micro` holds the
    pipeline's size conditioning arguments (original_size, crops_coords_top_left, target_size and the negative_*
    variants, diffusers' (height, width) and (top, left) tuples); `width` makes a size x width (h x w) image."""
    micro = dict(micro or {})
    height, width = size, width or size
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{OUT}/scheduler_{sname}")
    with torch.no_grad():
        pe, npe, ppe, nppe = pipe.encode_prompt(prompt, prompt_2=prompt_2, device="cpu", num_images_per_prompt=1,
                                                do_classifier_free_guidance=True, negative_prompt=negative,
                                                negative_prompt_2=negative_2)
    # __call__'s defaults: original = target = (height, width), crop (0, 0); the negative ids only when both negative
    # sizes are given (their crop then defaults to (0, 0), not to the positive crop), else the positive ones
    add_time_ids = time_ids(micro.get("original_size") or (height, width), micro.get("crops_coords_top_left", (0, 0)),
                            micro.get("target_size") or (height, width))
    negative_ids = add_time_ids
    if micro.get("negative_original_size") is not None and micro.get("negative_target_size") is not None:
        negative_ids = time_ids(micro["negative_original_size"], micro.get("negative_crops_coords_top_left", (0, 0)),
                                micro["negative_target_size"])
    batch = per_prompt
    gen = torch.Generator().manual_seed(seed)
    sch.set_timesteps(steps)
    noise = torch.randn((batch, 4, height // 2, width // 2), generator=gen, dtype=torch.float32)
    lat = noise * sch.init_noise_sigma
    rec = {"noise": noise, "noise_seed": torch.tensor(seed), "init_latents": lat, "timesteps": sch.timesteps.clone(),
           "num_inference_steps": torch.tensor(steps), "cond_emb": pe, "uncond_emb": npe,     # [1, 77, 64]
           "cond_pooled": ppe, "uncond_pooled": nppe, "add_time_ids": add_time_ids,          # [1, 32], [1, 6]
           "guidance_scale": torch.tensor(float(guidance)),
           "init_noise_sigma": torch.tensor(float(sch.init_noise_sigma)), "sigmas": sch.sigmas.clone()}
    if negative_ids is not add_time_ids:
        rec["negative_add_time_ids"] = negative_ids                                        # [1, 6]
    emb = torch.cat([npe.repeat(batch, 1, 1), pe.repeat(batch, 1, 1)])
    # as __call__: cat([negative, positive]).repeat(B): with B > 1 the time-id rows alternate (negative, positive, ...)
    # while the embeddings' rows are B negative then B positive
    added = {"text_embeds": torch.cat([nppe.repeat(batch, 1), ppe.repeat(batch, 1)]),
             "time_ids": torch.cat([negative_ids, add_time_ids]).repeat(batch, 1)}
    extra = {"generator": gen} if "generator" in inspect.signature(sch.step).parameters else {}
    with torch.no_grad():
        for i, t in enumerate(sch.timesteps):
            inp = sch.scale_model_input(torch.cat([lat] * 2), t)
            nu, nt = unet(inp, t, encoder_hidden_states=emb, added_cond_kwargs=added).sample.chunk(2)
            guided = nu + guidance * (nt - nu)
            if sname == "euler_a":  # the draw the step is about to make, from a copy of the generator's state
                peek = torch.Generator(); peek.set_state(gen.get_state())
                rec[f"step{i}_ancestral_noise"] = torch.randn(guided.shape, generator=peek, dtype=guided.dtype)
            lat = sch.step(guided, t, lat, **extra).prev_sample
            rec.update({f"step{i}_model_input": inp, f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt,
                        f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        image = vae.decode(lat / vae.config.scaling_factor).sample
    rec.update({"final_latents": lat, "image_raw": image, "image_01": (image / 2 + 0.5).clamp(0, 1)})
    p = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
                                  tokenizer_2=tokenizer_2, unet=unet, scheduler=sch.__class__.from_config(sch.config),
                                  force_zeros_for_empty_prompt=True, add_watermarker=False)
    p.set_progress_bar_config(disable=True)
    sized = {} if (height, width) == (16, 16) else {"height": height, "width": width}
    with torch.no_grad():  # 16 x 16: height/width left to the pipeline's default (sample_size x vae scale = 16)
        out = p(prompt=prompt, prompt_2=prompt_2, negative_prompt=negative, negative_prompt_2=negative_2,
                num_images_per_prompt=per_prompt, num_inference_steps=steps, guidance_scale=guidance, output_type="pt",
                generator=torch.Generator().manual_seed(seed), **sized, **micro).images
    name = name or f"loop_{sname}_cfg{guidance:g}" + ("" if negative is None else "_negative")
    diff = float((out - rec["image_01"]).abs().max())
    report[f"{name}_pipeline_image01_maxabs_diff"] = diff
    assert diff == 0.0, f"{name}: the manual loop differs from StableDiffusionXLPipeline by {diff}"
    meta = {"prompt": prompt, "negative_prompt": "" if negative is None else negative,
            "negative_prompt_is_none": str(negative is None)}
    if prompt_2 is not None: meta["prompt_2"] = prompt_2
    if negative_2 is not None: meta["negative_prompt_2"] = negative_2
    meta.update({k: json.dumps(list(v)) for k, v in micro.items()})     # for people: verify reads the time ids
    save(f"{OUT}/{name}.safetensors", rec, meta)
    report[f"{name}_timesteps"] = sch.timesteps.tolist()
    report[f"{name}_uncond_is_zero"] = bool(npe.abs().max() == 0)


PROMPT = PROMPTS[1]
loop("euler", 4, 5.0, PROMPT, None, 1, 42)              # diffusers' defaults: guidance 5, no negative -> zeros
loop("euler_a", 3, 5.0, PROMPT, "blurry", 2, 7)        # a negative prompt encoded, two images, ancestral noise
# prompt_2 / negative_prompt_2 and every size argument, each a different value; two images, whose time-id rows
# alternate as __call__ repeats them
loop("euler", 3, 5.0, PROMPT, "blurry", 2, 11, prompt_2=PROMPTS[2], negative_2="low quality",
     micro={"original_size": (40, 24), "crops_coords_top_left": (4, 12), "target_size": (12, 20),
            "negative_original_size": (8, 56), "negative_crops_coords_top_left": (6, 2), "negative_target_size": (28, 8)},
     name="loop_euler_cfg5_prompt2_sizes")
# no negative prompt (zeros: negative_prompt_2 is then unused), prompt_2, a crop alone on a 16 x 24 (h x w) image:
# original = target = (16, 24); the negative time ids are the positive ones
loop("euler", 3, 5.0, PROMPT, None, 1, 3, prompt_2=PROMPTS[2], negative_2="low quality",
     micro={"crops_coords_top_left": (8, 4)}, width=24, name="loop_euler_cfg5_prompt2_crop")

with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
