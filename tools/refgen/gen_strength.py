"""Reference sets for reference/strength/ (docs/VERIFY.md formats), recorded with diffusers 0.27.2 / transformers 4.30.0
on CPU fp32 over the tiny random-weight models of the shared reference (tiny/unet, tiny/vae, tiny/text_encoder).

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 tools/refgen/gen_strength.py \
        [--tiny ../shared/reference/tiny] [--tokenizer ../shared/reference/tokenizer] [--out reference/strength]

Writes (see tools/refgen/README.md):
  batch/     loop_euler_a_cfg7.5 (one prompt, num_images_per_prompt 3) and loop_dpmpp2m_cfg5 (a list of 2 prompts)
  one_step/  a one-step loop for every scheduler the runtime has
  clip_skip/ text_encoder_io with hidden_state_clip_skip1 and 2
  n_iter/    n_iter_noise: the initial noise of each AUTOMATIC1111 n_iter iteration (seed + i * batch_size)
and components.json in each set that needs models (where the tiny models are, and their sha256).
Every manual loop is checked against diffusers' StableDiffusionPipeline fed the same prompts and generator
(max |diff| must be 0); the script stops if any is not.
"""
import argparse, hashlib, inspect, json, os, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)
from transformers import tokenization_utils_base as tub
# transformers 4.30 without the `tokenizers` package uses a dataclass AddedToken without __str__, so the slow CLIP
# tokenizer would map its special tokens to None; tokenizers.AddedToken's __str__ is the token's content.
if "__str__" not in tub.AddedToken.__dict__:
    tub.AddedToken.__str__ = lambda self: self.content
from transformers import CLIPTextModel, CLIPTokenizer
from diffusers import (UNet2DConditionModel, AutoencoderKL, StableDiffusionPipeline, DDIMScheduler, PNDMScheduler,
                       EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler,
                       LMSDiscreteScheduler)
import diffusers, transformers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ap = argparse.ArgumentParser()
ap.add_argument("--tiny", default=os.path.join(REPO, "..", "shared", "reference", "tiny"))
ap.add_argument("--tokenizer", default=os.path.join(REPO, "..", "shared", "reference", "tokenizer"))
ap.add_argument("--out", default=os.path.join(REPO, "reference", "strength"))
args = ap.parse_args()
TINY, OUT = os.path.abspath(args.tiny), os.path.abspath(args.out)
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_strength.py"}
def save(path, tensors):
    safetensors_writer.write(path, tensors, META)


def sha256(path):
    with open(path, "rb") as f: return hashlib.sha256(f.read()).hexdigest()


def components_json(set_dir, names, root=None):
    """Where the set's component folders are (relative to the set; ROOT, default the tiny models) and what their
    weight files hash to."""
    root = root or TINY
    rel = os.path.relpath(root, set_dir)
    hashes = {}
    for c in names:
        for fn in sorted(os.listdir(os.path.join(root, c))):
            if fn.endswith(".safetensors"): hashes[f"{c}/{fn}"] = sha256(os.path.join(root, c, fn))
    os.makedirs(set_dir, exist_ok=True)
    with open(os.path.join(set_dir, "components.json"), "w") as f:
        json.dump({"components_from": rel, "sha256": hashes}, f, indent=1); f.write("\n")


class FoldedTokenizer(CLIPTokenizer):
    """The real CLIP BPE with ids folded into the tiny text encoder's 1000 (shared reference FORMAT.md):
    t -> t % 997 + 1, bos 49406 -> 998, eos/pad 49407 -> 999; so the pipeline can encode prompts itself."""
    def __call__(self, *a, **k):
        out = super().__call__(*a, **k)
        fold = lambda t: 998 if t == 49406 else 999 if t == 49407 else t % 997 + 1
        ids = out["input_ids"]
        out["input_ids"] = ids.apply_(fold) if torch.is_tensor(ids) else \
            [[fold(t) for t in row] for row in ids] if ids and isinstance(ids[0], list) else [fold(t) for t in ids]
        return out


unet = UNet2DConditionModel.from_pretrained(f"{TINY}/unet").eval()
vae = AutoencoderKL.from_pretrained(f"{TINY}/vae").eval()
text_encoder = CLIPTextModel.from_pretrained(f"{TINY}/text_encoder").eval()
tok = FoldedTokenizer(f"{args.tokenizer}/vocab.json", f"{args.tokenizer}/merges.txt", model_max_length=77)
report = {"versions": META}


def ids_of(prompts):
    return tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def embed(prompts):
    with torch.no_grad(): return text_encoder(ids_of(prompts)).last_hidden_state


SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
SCHEDULERS = {  # the runtime's samplers, configured as SD 1.5 ships them (and as the shared tiny set's loops)
    "ddim": lambda: DDIMScheduler(**SD, clip_sample=False, set_alpha_to_one=False),
    "pndm": lambda: PNDMScheduler(**SD, skip_prk_steps=True, set_alpha_to_one=False),
    "euler": lambda: EulerDiscreteScheduler(**SD),
    "euler_a": lambda: EulerAncestralDiscreteScheduler(**SD),
    "dpmpp2m": lambda: DPMSolverMultistepScheduler(**SD, algorithm_type="dpmsolver++", solver_order=2),
    "dpmpp2m_karras": lambda: DPMSolverMultistepScheduler(**SD, algorithm_type="dpmsolver++", solver_order=2,
                                                          use_karras_sigmas=True),
    "lms": lambda: LMSDiscreteScheduler(**SD),
}


def loop(set_dir, sname, steps, guidance, prompts, negatives, per_prompt, seed, per_image=False):
    """The manual loop of docs/VERIFY.md (one generator seeded `seed` draws the initial noise, then any ancestral
    noise, as diffusers' generator= does; with `per_image`, image i's from its own generator seeded seed + i, as a
    list of generators does), then the same through StableDiffusionPipeline, which must agree exactly."""
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{set_dir}/scheduler_{sname}")
    cond, uncond = embed(prompts), embed(negatives)                                  # [P, 77, D]
    batch = len(prompts) * per_prompt
    cond_b = cond.repeat_interleave(per_prompt, 0); uncond_b = uncond.repeat_interleave(per_prompt, 0)
    gen = [torch.Generator().manual_seed(seed + i) for i in range(batch)] if per_image else torch.Generator().manual_seed(seed)
    sch.set_timesteps(steps)
    noise = (torch.cat([torch.randn((1, 4, 8, 8), generator=g, dtype=torch.float32) for g in gen]) if per_image
             else torch.randn((batch, 4, 8, 8), generator=gen, dtype=torch.float32))
    lat = noise * sch.init_noise_sigma
    rec = {"noise": noise, "noise_seed": torch.tensor(seed), "init_latents": lat, "timesteps": sch.timesteps.clone(),
           "num_inference_steps": torch.tensor(steps), "cond_emb": cond, "uncond_emb": uncond,   # [P, 77, D]
           "guidance_scale": torch.tensor(float(guidance)),
           "init_noise_sigma": torch.tensor(float(sch.init_noise_sigma)), "alphas_cumprod": sch.alphas_cumprod}
    if hasattr(sch, "sigmas"): rec["sigmas"] = sch.sigmas.clone()
    if per_image: rec["noise_seed_per_image"] = torch.tensor(1)
    stochastic = sname == "euler_a"
    extra = {"generator": gen} if "generator" in inspect.signature(sch.step).parameters else {}  # as diffusers passes it
    with torch.no_grad():
        for i, t in enumerate(sch.timesteps):
            inp = sch.scale_model_input(torch.cat([lat] * 2), t)
            nu, nt = unet(inp, t, encoder_hidden_states=torch.cat([uncond_b, cond_b])).sample.chunk(2)
            guided = nu + guidance * (nt - nu)
            if stochastic:   # the draw the step is about to make, from a copy of the generator's state
                peeks = []
                for g in (gen if per_image else [gen]):
                    peek = torch.Generator(); peek.set_state(g.get_state()); peeks.append(peek)
                rec[f"step{i}_ancestral_noise"] = (
                    torch.cat([torch.randn((1,) + tuple(guided.shape[1:]), generator=pk, dtype=guided.dtype) for pk in peeks])
                    if per_image else torch.randn(guided.shape, generator=peeks[0], dtype=guided.dtype))
            lat = sch.step(guided, t, lat, **extra).prev_sample
            rec.update({f"step{i}_model_input": inp, f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt,
                        f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        image = vae.decode(lat / vae.config.scaling_factor).sample
    rec.update({"final_latents": lat, "image_raw": image, "image_01": (image / 2 + 0.5).clamp(0, 1)})
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                                   scheduler=sch.__class__.from_config(sch.config), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    p = prompts if len(prompts) > 1 else prompts[0]
    n = negatives if len(negatives) > 1 else negatives[0]
    with torch.no_grad():
        out = pipe(prompt=p, negative_prompt=n, num_images_per_prompt=per_prompt, num_inference_steps=steps,
                   guidance_scale=guidance, height=16, width=16, output_type="pt",
                   generator=([torch.Generator().manual_seed(seed + i) for i in range(batch)] if per_image
                              else torch.Generator().manual_seed(seed))).images
    name = f"loop_{sname}_cfg{guidance:g}" + ("_per_image" if per_image else "")
    diff = float((out - rec["image_01"]).abs().max())
    report[f"{os.path.basename(set_dir)}/{name}_pipeline_image01_maxabs_diff"] = diff
    assert diff == 0.0, f"{name}: the manual loop differs from StableDiffusionPipeline by {diff}"
    save(f"{set_dir}/{name}.safetensors", rec)
    report[f"{os.path.basename(set_dir)}/{name}_timesteps"] = sch.timesteps.tolist()


PROMPT = "a photograph of an astronaut riding a horse"
# ---- batch: num_images_per_prompt 3 on a stochastic sampler; a list of 2 prompts with their own negatives ----
loop(f"{OUT}/batch", "euler_a", 3, 7.5, [PROMPT], ["blurry"], 3, 31)
loop(f"{OUT}/batch", "dpmpp2m", 3, 5.0, [PROMPT, "a red cube on a wooden table"], ["", "blurry, low quality"], 1, 32)
# the first with a generator per image (seeds 31, 32, 33): AUTOMATIC1111's batch seeds
loop(f"{OUT}/batch", "euler_a", 3, 7.5, [PROMPT], ["blurry"], 3, 31, per_image=True)
components_json(f"{OUT}/batch", ["unet", "vae"])
# ---- one step of every scheduler ----
for s in SCHEDULERS:
    loop(f"{OUT}/one_step", s, 1, 7.5, [PROMPT], [""], 1, 7)
components_json(f"{OUT}/one_step", ["unet", "vae"])

# ---- clip skip 1 and 2, as diffusers' encode_prompt(clip_skip=k) computes them ----
prompts = ["", PROMPT, "a red cube on a wooden table"]
ids = ids_of(prompts)
with torch.no_grad():
    o = text_encoder(ids, output_hidden_states=True)
    te = {"input_ids": ids, "last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output}
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                                   scheduler=SCHEDULERS["ddim"](), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    for k in (1, 2):
        te[f"hidden_state_clip_skip{k}"] = text_encoder.text_model.final_layer_norm(o.hidden_states[-(k + 1)])
        via_pipe = pipe.encode_prompt(prompts, "cpu", 1, False, clip_skip=k)[0]
        diff = float((via_pipe - te[f"hidden_state_clip_skip{k}"]).abs().max())
        report[f"clip_skip{k}_encode_prompt_maxabs_diff"] = diff
        assert diff == 0.0, f"clip skip {k}: differs from encode_prompt by {diff}"
    report["clip_skip_layers_differ"] = bool((te["hidden_state_clip_skip1"] - te["hidden_state_clip_skip2"]).abs().max() > 0)
save(f"{OUT}/clip_skip/text_encoder_io.safetensors", te)
components_json(f"{OUT}/clip_skip", ["text_encoder"])

# ---- AUTOMATIC1111 n_iter: iteration i draws its batch's noise from a generator seeded seed + i * batch_size ----
SEED, BATCH, ITERS = 1000, 2, 3
rec = {"seed": torch.tensor(SEED), "batch_size": torch.tensor(BATCH), "n_iter": torch.tensor(ITERS)}
for i in range(ITERS):
    rec[f"iter{i}_noise"] = torch.randn((BATCH, 4, 8, 8), generator=torch.Generator().manual_seed(SEED + i * BATCH))
save(f"{OUT}/n_iter/n_iter_noise.safetensors", rec)

with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
