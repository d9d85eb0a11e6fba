"""Reference sets for reference/few-step/ (docs/VERIFY.md formats): LCM and SD-Turbo style sampling (1-4 steps,
guidance off or low, "trailing" timestep spacing), recorded with diffusers 0.27.2 / transformers 4.30.0 on CPU fp32
over the tiny random-weight models of the shared reference (tiny/unet, tiny/vae, tiny/text_encoder).

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_lcm.py \
        [--tiny ../shared/reference/tiny] [--tokenizer ../shared/reference/tokenizer] [--out reference/few-step]

Writes (see tools/refgen/README.md, "Few-step sampling"):
  lcm/           LCMScheduler as LCM-LoRA users set it up (from SD 1.5's scheduler config): 4 steps without guidance
                 (loop_lcm_cfg1) and with a low classifier-free guidance (loop_lcm_cfg1.5)
  lcm_one_step/  LCMScheduler, 1 step, guidance 1
  lcm_w/         an LCM-distilled style UNet (the tiny UNet layout plus time_cond_proj_dim: a guidance-scale
                 embedding w enters the time embedding; no classifier-free guidance): loop_lcm_cfg8 (w = 7), and
                 unet_io with timestep_cond; its unet/ folder is written here (it is not in the shared reference)
  trailing/      SD-Turbo style: timestep_spacing "trailing", guidance 0 or 1: Euler a 1 step (cfg0) and 4 steps
                 (cfg1), Euler 1 step (cfg0), DDIM 2 steps (cfg0)
and components.json where the set uses shared models (where they are, and their sha256).
Every manual loop is checked against diffusers' StableDiffusionPipeline fed the same prompt and generator (max |diff|
must be 0; the LCM-UNet loop also against LatentConsistencyModelPipeline); the script stops if any is not.
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
from diffusers import (UNet2DConditionModel, AutoencoderKL, StableDiffusionPipeline, LatentConsistencyModelPipeline,
                       DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
                       LCMScheduler)
import diffusers, transformers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ap = argparse.ArgumentParser()
ap.add_argument("--tiny", default=os.path.join(REPO, "..", "shared", "reference", "tiny"))
ap.add_argument("--tokenizer", default=os.path.join(REPO, "..", "shared", "reference", "tokenizer"))
ap.add_argument("--out", default=os.path.join(REPO, "reference", "few-step"))
args = ap.parse_args()
TINY, OUT = os.path.abspath(args.tiny), os.path.abspath(args.out)
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_lcm.py"}
def save(path, tensors):
    safetensors_writer.write(path, tensors, META)


def sha256(path):
    with open(path, "rb") as f: return hashlib.sha256(f.read()).hexdigest()


def components_json(set_dir, names):
    """Where the set's shared component folders are (relative to the set) and what their weight files hash to."""
    rel = os.path.relpath(TINY, set_dir)
    hashes = {}
    for c in names:
        for fn in sorted(os.listdir(os.path.join(TINY, c))):
            if fn.endswith(".safetensors"): hashes[f"{c}/{fn}"] = sha256(os.path.join(TINY, c, fn))
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
# latent and image size from the configs, so that other tiny models (--tiny) record sets of the same kinds
LATENT = (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
PIXELS = unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1)


def embed(prompts):
    ids = tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad(): return text_encoder(ids).last_hidden_state


SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
SD15 = PNDMScheduler(**SD, skip_prk_steps=True, set_alpha_to_one=False)   # Stable Diffusion 1.5's own scheduler
SCHEDULERS = {
    # LCM-LoRA: pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config) on an SD 1.5 model
    "lcm": lambda: LCMScheduler.from_config(SD15.config),
    # SD-Turbo style: "trailing" spacing, so that one step starts at t = 999
    "euler_a_trailing": lambda: EulerAncestralDiscreteScheduler(**SD, timestep_spacing="trailing"),
    "euler_trailing": lambda: EulerDiscreteScheduler(**SD, timestep_spacing="trailing"),
    "ddim_trailing": lambda: DDIMScheduler(**SD, clip_sample=False, set_alpha_to_one=False, timestep_spacing="trailing"),
}
STOCHASTIC = {"lcm", "euler_a_trailing"}   # step() draws from the generator


def loop(set_dir, sname, steps, guidance, seed, model=unet, prompt="a photograph of an astronaut riding a horse"):
    """The manual loop of docs/VERIFY.md (one generator seeded `seed` draws the initial noise, then the noise each
    step draws, as diffusers' generator= does), then the same through StableDiffusionPipeline, which must agree
    exactly. Without classifier-free guidance (guidance <= 1, or a UNet with time_cond_proj_dim) the UNet runs once per
    step on the prompt alone: step<i>_model_input is [B, ...] and step<i>_guided is the UNet output itself."""
    sch = SCHEDULERS[sname]()
    sch.save_config(f"{set_dir}/scheduler_{sname}")
    w_unet = model.config.time_cond_proj_dim is not None
    cfg = guidance > 1 and not w_unet                      # diffusers' do_classifier_free_guidance
    cond, uncond = embed([prompt]), embed([""])            # [1, 77, D]
    gen = torch.Generator().manual_seed(seed)
    sch.set_timesteps(steps)
    noise = torch.randn((1, *LATENT), generator=gen, dtype=torch.float32)
    lat = noise * sch.init_noise_sigma
    rec = {"noise": noise, "noise_seed": torch.tensor(seed), "init_latents": lat, "timesteps": sch.timesteps.clone(),
           "num_inference_steps": torch.tensor(steps), "cond_emb": cond, "guidance_scale": torch.tensor(float(guidance)),
           "init_noise_sigma": torch.tensor(float(sch.init_noise_sigma)), "alphas_cumprod": sch.alphas_cumprod}
    if cfg: rec["uncond_emb"] = uncond
    if hasattr(sch, "sigmas"): rec["sigmas"] = sch.sigmas.clone()
    helper = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=model, scheduler=sch,
                                     safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    timestep_cond = None
    if w_unet:   # as StableDiffusionPipeline 6.2: the embedding of w = guidance_scale - 1
        timestep_cond = helper.get_guidance_scale_embedding(torch.tensor(guidance - 1).repeat(1),
                                                            embedding_dim=model.config.time_cond_proj_dim)
        rec["timestep_cond"] = timestep_cond
    extra = {"generator": gen} if "generator" in inspect.signature(sch.step).parameters else {}  # as diffusers passes it
    with torch.no_grad():
        for i, t in enumerate(sch.timesteps):
            inp = sch.scale_model_input(torch.cat([lat] * 2) if cfg else lat, t)
            out = model(inp, t, encoder_hidden_states=torch.cat([uncond, cond]) if cfg else cond,
                        timestep_cond=timestep_cond).sample
            if cfg:
                nu, nt = out.chunk(2)
                guided = nu + guidance * (nt - nu)
                rec.update({f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt})
            else:
                guided = out
            draws = sname in STOCHASTIC and not (sname == "lcm" and i == len(sch.timesteps) - 1)  # LCM: none at the end
            if draws:   # the draw the step is about to make, from a copy of the generator's state
                peek = torch.Generator(); peek.set_state(gen.get_state())
                rec[f"step{i}_ancestral_noise"] = torch.randn(guided.shape, generator=peek, dtype=guided.dtype)
            res = sch.step(guided, t, lat, **extra)
            lat = res.prev_sample
            if sname == "lcm": rec[f"step{i}_denoised"] = res.denoised
            rec.update({f"step{i}_model_input": inp, f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        image = vae.decode(lat / vae.config.scaling_factor).sample
    rec.update({"final_latents": lat, "image_raw": image, "image_01": (image / 2 + 0.5).clamp(0, 1)})
    name = f"loop_{sname}_cfg{guidance:g}"
    key = f"{os.path.basename(set_dir)}/{name}"
    pipes = {"StableDiffusionPipeline": StableDiffusionPipeline}
    if w_unet: pipes["LatentConsistencyModelPipeline"] = LatentConsistencyModelPipeline
    for pname, cls in pipes.items():
        kw = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=model,
                   scheduler=sch.__class__.from_config(sch.config), **kw)
        pipe.set_progress_bar_config(disable=True)
        call = dict(prompt=prompt, num_inference_steps=steps, guidance_scale=guidance, height=PIXELS, width=PIXELS,
                    output_type="pt", generator=torch.Generator().manual_seed(seed))
        if cls is StableDiffusionPipeline: call["negative_prompt"] = ""
        with torch.no_grad():
            images = pipe(**call).images
        diff = float((images - rec["image_01"]).abs().max())
        report[f"{key}_{pname}_image01_maxabs_diff"] = diff
        assert diff == 0.0, f"{name}: the manual loop differs from {pname} by {diff}"
    save(f"{set_dir}/{name}.safetensors", rec)
    report[f"{key}_timesteps"] = sch.timesteps.tolist()


def w_unet(set_dir, proj_dim=256, seed=5):
    """The tiny UNet layout with block_out_channels (32, 32), norm_num_groups 8 and time_cond_proj_dim (LCM-distilled
    UNets have 256): random weights from `seed`, constant parameters perturbed, saved as a diffusers folder in the set.
    (With 32 groups of one channel each, GroupNorm would cancel the per-channel time embedding a resnet adds, and
    neither the timestep nor w would change the output.)"""
    torch.manual_seed(seed)
    c = unet.config   # the shared UNet's sizes, so that the set's VAE and embeddings fit
    m = UNet2DConditionModel(sample_size=c.sample_size, in_channels=c.in_channels, out_channels=c.out_channels,
                             block_out_channels=(32, 32), layers_per_block=1,
                             down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                             up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=c.cross_attention_dim,
                             attention_head_dim=8, norm_num_groups=8, time_cond_proj_dim=proj_dim).eval()
    g = torch.Generator().manual_seed(seed + 10)
    with torch.no_grad():
        for n, p in m.named_parameters():   # norm weights (=1) and biases (=0) get 0.1 N(0,1) so that swaps show
            if p.numel() > 1 and bool(torch.all(p == p.flatten()[0])):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    m.save_pretrained(f"{set_dir}/unet", safe_serialization=True)
    m = UNet2DConditionModel.from_pretrained(f"{set_dir}/unet").eval()   # what the runtime will read
    # unet_io: one pass with a guidance embedding, one without (timestep_cond None skips cond_proj)
    g = torch.Generator().manual_seed(seed + 20)
    sample = torch.randn((2, *LATENT), generator=g)
    ctx = torch.randn((2, 77, c.cross_attention_dim), generator=g)
    t = torch.tensor([999, 259])
    helper = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=m, scheduler=SD15,
                                     safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    tc = helper.get_guidance_scale_embedding(torch.tensor([7.0, 0.5]), embedding_dim=proj_dim)
    with torch.no_grad():
        io = {"sample": sample, "timesteps": t, "encoder_hidden_states": ctx, "timestep_cond": tc,
              "guidance_w": torch.tensor([7.0, 0.5]),
              "out": m(sample, t, encoder_hidden_states=ctx, timestep_cond=tc).sample,
              "out_no_timestep_cond": m(sample, t, encoder_hidden_states=ctx).sample}
    report["lcm_w/unet_io_timestep_cond_changes_out"] = float((io["out"] - io["out_no_timestep_cond"]).abs().max())
    assert report["lcm_w/unet_io_timestep_cond_changes_out"] > 1e-2, "timestep_cond barely changes the UNet output"
    save(f"{set_dir}/unet_io.safetensors", io)
    return m


# ---- LCM as LCM-LoRA users run it: 4 steps without and with a low guidance; 1 step ----
loop(f"{OUT}/lcm", "lcm", 4, 1.0, 11)
loop(f"{OUT}/lcm", "lcm", 4, 1.5, 12)
components_json(f"{OUT}/lcm", ["unet", "vae"])
loop(f"{OUT}/lcm_one_step", "lcm", 1, 1.0, 13)
components_json(f"{OUT}/lcm_one_step", ["unet", "vae"])
# ---- LCM-distilled UNet: the guidance scale enters as an embedding (time_cond_proj_dim), no CFG ----
wu = w_unet(f"{OUT}/lcm_w")
loop(f"{OUT}/lcm_w", "lcm", 4, 8.0, 14, model=wu)
components_json(f"{OUT}/lcm_w", ["vae"])
# ---- SD-Turbo style: trailing spacing, guidance off ----
loop(f"{OUT}/trailing", "euler_a_trailing", 1, 0.0, 21)
loop(f"{OUT}/trailing", "euler_a_trailing", 4, 1.0, 22)
loop(f"{OUT}/trailing", "euler_trailing", 1, 0.0, 23)
loop(f"{OUT}/trailing", "ddim_trailing", 2, 0.0, 24)
components_json(f"{OUT}/trailing", ["unet", "vae"])

with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
