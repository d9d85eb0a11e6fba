"""SDXL LoRA reference sets for reference/lora/sdxl_* (docs/VERIFY.md formats plus components.json "loras"), recorded
with diffusers 0.27.2 / transformers 4.30.0 on CPU fp32 over the tiny SDXL base model of reference/sdxl.

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_lora_sdxl.py \
        [--sdxl reference/sdxl] [--out reference/lora]

The sibling of gen_lora.py (SD 1.x) for SDXL, applying LoRAs the same way without PEFT (this environment has none):
  UNet:            every nn.Linear / nn.Conv2d swapped for diffusers' LoRACompatibleLinear / LoRACompatibleConv with the
                   same weights, then StableDiffusionXLPipeline.lora_state_dict(file, unet_config=unet.config) (for kohya
                   files: _maybe_map_sgm_blocks_to_diffusers, which maps kohya's SDXL names input_blocks_4_1_... to
                   diffusers', then _convert_kohya_lora_to_diffusers, which sends lora_te1_ to text_encoder and lora_te2_
                   to text_encoder_2), unet.load_attn_procs(state_dict, network_alphas) and unet.fuse_lora(lora_scale).
  text encoders:   text_encoder.* and text_encoder_2.* keys through convert_state_dict_to_diffusers, each layer wrapped
                   in diffusers' PatchedLoraProjection and fused with _fuse_lora(lora_scale=scale).
A second LoRA is fused on top of the first. Checks before anything is written (report_sdxl.json): the fused weights of
all three models equal W + scale * alpha / rank * up @ down computed here from the generator's own tensors (1e-6), each
LoRA moves every model's output, and the loop equals StableDiffusionXLPipeline called with the prompt (0).
"""
import argparse, hashlib, json, os, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)
from transformers import tokenization_utils_base as tub
if "__str__" not in tub.AddedToken.__dict__:
    tub.AddedToken.__str__ = lambda self: self.content
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
from diffusers import UNet2DConditionModel, AutoencoderKL, StableDiffusionXLPipeline, EulerDiscreteScheduler
from diffusers.models.lora import PatchedLoraProjection, LoRACompatibleLinear, LoRACompatibleConv
from diffusers.utils.state_dict_utils import convert_state_dict_to_diffusers
from diffusers.utils import USE_PEFT_BACKEND
import diffusers, transformers

assert not USE_PEFT_BACKEND, "this generator records diffusers' non-PEFT LoRA path"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ap = argparse.ArgumentParser()
ap.add_argument("--sdxl", default=os.path.join(REPO, "reference", "sdxl"))
ap.add_argument("--out", default=os.path.join(REPO, "reference", "lora"))
ap.add_argument("--single-file", default=os.path.join(REPO, "reference", "single-file", "sdxl"),
                help="the single-file SDXL set (tiny-sdxl.safetensors, folder_tensors.json)")
ap.add_argument("--single-file-work", default=os.path.join(os.environ.get("REFGEN_WORK", "/tmp/refgen"), "out", "single-file",
                "sdxl"), help="its diffusers folders, as gen_single_file.py writes them (checked against folder_tensors.json)")
args = ap.parse_args()
SDXL, OUT = os.path.abspath(args.sdxl), os.path.abspath(args.out)
FILE_SET, FILE_WORK = os.path.abspath(args.single_file), os.path.abspath(args.single_file_work)
FOLDER = SDXL  # the diffusers folders the models are loaded from: reference/sdxl, then the single file's (use())
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_lora_sdxl.py"}
TES = ("text_encoder", "text_encoder_2")


def save(path, tensors, extra=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    safetensors_writer.write(path, tensors, dict(META, **(extra or {})))


def sha256(path):
    with open(path, "rb") as f: return hashlib.sha256(f.read()).hexdigest()


def components_json(set_dir, loras, remove=False):
    """components.json: reference/sdxl's weight files (relative path, sha256), or for the single-file sets the
    checkpoint (relative path, sha256), and the LoRAs applied, with scales."""
    if FOLDER == SDXL:
        hashes = {}
        for c in ("unet", "vae") + TES:
            for fn in sorted(os.listdir(os.path.join(SDXL, c))):
                if fn.endswith(".safetensors"): hashes[f"{c}/{fn}"] = sha256(os.path.join(SDXL, c, fn))
        doc = {"components_from": os.path.relpath(SDXL, set_dir), "sha256": hashes}
    else:
        ckpt = os.path.join(FILE_SET, "tiny-sdxl.safetensors")
        doc = {"checkpoint": os.path.relpath(ckpt, set_dir), "sha256": {"tiny-sdxl.safetensors": sha256(ckpt)}}
    doc["loras"] = [{"file": os.path.relpath(f"{OUT}/loras/{n}.safetensors", set_dir), "scale": s,
                     "sha256": sha256(f"{OUT}/loras/{n}.safetensors")} for n, s in loras]
    if remove: doc["remove_loras"] = True
    os.makedirs(set_dir, exist_ok=True)
    with open(os.path.join(set_dir, "components.json"), "w") as f:
        json.dump(doc, f, indent=1); f.write("\n")


def lora_compatible(model):
    """Swaps every nn.Linear / nn.Conv2d for diffusers' LoRACompatibleLinear / LoRACompatibleConv, same weights."""
    for name, mod in list(model.named_modules()):
        for leaf, child in list(mod.named_children()):
            if type(child) is torch.nn.Linear:
                new = LoRACompatibleLinear(child.in_features, child.out_features, bias=child.bias is not None)
            elif type(child) is torch.nn.Conv2d:
                new = LoRACompatibleConv(child.in_channels, child.out_channels, child.kernel_size, stride=child.stride,
                                         padding=child.padding, bias=child.bias is not None)
            else:
                continue
            new.load_state_dict(child.state_dict())
            setattr(mod, leaf, new.eval())
    return model


def load():
    """FOLDER's fp16 weights as fp32 models: the UNet made LoRA-compatible, and both text encoders."""
    return {"unet": lora_compatible(UNet2DConditionModel.from_pretrained(f"{FOLDER}/unet").float().eval()),
            "text_encoder": CLIPTextModel.from_pretrained(f"{FOLDER}/text_encoder").float().eval(),
            "text_encoder_2": CLIPTextModelWithProjection.from_pretrained(f"{FOLDER}/text_encoder_2").float().eval()}


def use(folder, context_width, seed):
    """Makes `folder`'s model the one loaded, fused and recorded below, with its own encoder_hidden_states input."""
    global FOLDER, models, vae, BASE, CONTEXT, BASE_OUT
    FOLDER = folder
    models = load()
    vae = AutoencoderKL.from_pretrained(f"{FOLDER}/vae").float().eval()
    BASE = {c: {k: v.clone() for k, v in m.state_dict().items()} for c, m in models.items()}
    CONTEXT = torch.randn((2, 77, context_width), generator=torch.Generator().manual_seed(seed))
    BASE_OUT = outputs()


# both models were recorded with reference/sdxl's 1,000-id tokenizers (the single file holds none)
tokenizers = {"text_encoder": CLIPTokenizer.from_pretrained(f"{SDXL}/tokenizer"),
              "text_encoder_2": CLIPTokenizer.from_pretrained(f"{SDXL}/tokenizer_2")}
report = {"versions": META}

# ---- the LoRAs: module (diffusers name) per component; the UNet's transformer depth is 1 in down_blocks.1 and 2 in the
# mid block and up_blocks.0 (transformer_layers_per_block (1, 2)), so the LDM names below need per-level depth
D1, MID, U0 = "down_blocks.1.attentions.0", "mid_block.attentions.0", "up_blocks.0.attentions.1"
ATTN = [f"{b}.transformer_blocks.{k}.{a}.{p}" for b, k in ((D1, 0), (MID, 1), (U0, 0), (U0, 1))
        for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0")]
FF = [f"{b}.transformer_blocks.{k}.{p}" for b, k in ((D1, 0), (MID, 1)) for p in ("ff.net.0.proj", "ff.net.2")]
PROJ = [f"{b}.{p}" for b in (D1, U0) for p in ("proj_in", "proj_out")]
CONV = ["down_blocks.0.resnets.0.conv1", "down_blocks.1.resnets.0.conv2", "down_blocks.1.resnets.0.conv_shortcut",
        "down_blocks.1.resnets.0.time_emb_proj", "down_blocks.0.downsamplers.0.conv", "mid_block.resnets.1.conv1",
        "up_blocks.0.upsamplers.0.conv", "up_blocks.1.resnets.1.conv2"]
TE_ATTN = [f"text_model.encoder.layers.{i}.self_attn.{p}" for i in (0, 2) for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
TE_MLP = [f"text_model.encoder.layers.{i}.mlp.{p}" for i in (1,) for p in ("fc1", "fc2")]


def make(seed, unet_modules, te_modules, rank, alpha):
    """Random (down, up) per module, sized so that alpha/rank * up @ down is about half the weight's spread."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for comp, mods in (("unet", unet_modules), ("text_encoder", te_modules), ("text_encoder_2", te_modules)):
        for m in mods:
            if m + ".weight" not in BASE[comp]: continue  # the single file's model: no shortcut, 2 encoder layers
            w = BASE[comp][m + ".weight"]
            cols = w[0].numel()
            k = w.shape[2] if w.dim() == 4 else 1
            down = torch.randn((rank, w.shape[1], k, k) if w.dim() == 4 else (rank, cols), generator=g) / cols ** 0.5
            up = torch.randn((w.shape[0], rank, 1, 1) if w.dim() == 4 else (w.shape[0], rank), generator=g)
            up *= 0.5 * float(w.std()) * (cols / rank) ** 0.5 * (rank / alpha if alpha else 1.0)
            out[(comp, m)] = (down, up, alpha)
    return out


def ldm_name(m):
    """kohya's SDXL UNet naming (sd-scripts' sdxl_original_unet, LDM/SGM names) of the tiny UNet's diffusers module m."""
    for hf, ldm in (("down_blocks.0.resnets.0.", "input_blocks.1.0."), ("down_blocks.0.downsamplers.0.conv", "input_blocks.2.0.op"),
                    ("down_blocks.1.resnets.0.", "input_blocks.3.0."), (D1 + ".", "input_blocks.3.1."),
                    ("mid_block.resnets.0.", "middle_block.0."), (MID + ".", "middle_block.1."),
                    ("mid_block.resnets.1.", "middle_block.2."), ("up_blocks.0.attentions.0.", "output_blocks.0.1."),
                    (U0 + ".", "output_blocks.1.1."), ("up_blocks.0.upsamplers.0.conv", "output_blocks.1.2.conv"),
                    ("up_blocks.1.resnets.1.", "output_blocks.3.0.")):
        if m.startswith(hf):
            m = ldm + m[len(hf):]
            break
    for hf, ldm in (("conv1", "in_layers.2"), ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
                    ("conv_shortcut", "skip_connection")):
        if m.endswith("." + hf): m = m[:-len(hf)] + ldm  # resnet leaves; no attention layer has these names
    return m


def kohya_file(lora, ldm):
    sd = {}
    for (comp, m), (down, up, alpha) in lora.items():
        prefix = {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}[comp]
        name = prefix + (ldm_name(m) if ldm and comp == "unet" else m).replace(".", "_")
        sd[name + ".lora_down.weight"], sd[name + ".lora_up.weight"] = down, up
        if alpha is not None: sd[name + ".alpha"] = torch.tensor(alpha)
    return sd


def peft_file(lora):
    return {f"{c}.{m}.lora_{ab}.weight": t for (c, m), (d, u, _) in lora.items() for ab, t in (("A", d), ("B", u))}


def diffusers_file(lora):  # diffusers' own non-PEFT format (save_lora_weights < 0.24): lora.down / lora_linear_layer.down
    sd = {}
    for (c, m), (d, u, _) in lora.items():
        part = "lora" if c == "unet" else "lora_linear_layer"
        sd[f"{c}.{m}.{part}.down.weight"], sd[f"{c}.{m}.{part}.up.weight"] = d, u
    return sd



def te_alpha_module(k):
    m = k.replace(".alpha", "").replace(".down.weight", "").replace(".lora_linear_layer", "")
    for a, b in (("to_q_lora", "q_proj"), ("to_k_lora", "k_proj"), ("to_v_lora", "v_proj"), ("to_out_lora", "out_proj")):
        m = m.replace(a, b)
    return m


def apply(name, scale):
    """Loads loras/<name>.safetensors the diffusers way and fuses it at `scale` (on top of what is fused already)."""
    unet = models["unet"]
    sd, alphas = StableDiffusionXLPipeline.lora_state_dict(f"{OUT}/loras/{name}.safetensors", unet_config=unet.config)
    sd, alphas = dict(sd), dict(alphas or {})
    u_sd = {k[5:]: v for k, v in sd.items() if k.startswith("unet.")}
    u_al = {k[5:]: v for k, v in alphas.items() if k.startswith("unet.")}
    if any(".lora_A.weight" in k for k in u_sd): u_sd = convert_state_dict_to_diffusers(u_sd)  # PEFT -> lora.down/up
    unet.load_attn_procs(u_sd, network_alphas=u_al or None, low_cpu_mem_usage=False)
    unet.fuse_lora(lora_scale=scale)
    for comp in TES:
        p = comp + "."
        te_sd = {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}
        te_sd = convert_state_dict_to_diffusers(te_sd) if te_sd else {}
        te_al = {te_alpha_module(k[len(p):]): v for k, v in alphas.items() if k.startswith(p)}
        te = models[comp]
        for key in [k for k in te_sd if k.endswith("lora_linear_layer.down.weight")]:
            m = key[:-len(".lora_linear_layer.down.weight")]
            parent, leaf = te.get_submodule(m.rsplit(".", 1)[0]), m.rsplit(".", 1)[1]
            layer = getattr(parent, leaf)
            regular = layer.regular_linear_layer if isinstance(layer, PatchedLoraProjection) else layer
            down, up = te_sd[key], te_sd[key.replace(".down.", ".up.")]
            pl = PatchedLoraProjection(regular, lora_scale=scale, network_alpha=te_al.get(m), rank=down.shape[0])
            pl.lora_linear_layer.down.weight.data.copy_(down); pl.lora_linear_layer.up.weight.data.copy_(up)
            setattr(parent, leaf, pl)
            pl._fuse_lora(lora_scale=scale)


def expected_weights(loras):
    """W + sum scale * alpha/rank * up @ down from the generator's tensors (not through diffusers)."""
    w = {c: {k: v.clone() for k, v in b.items()} for c, b in BASE.items()}
    for name, scale in loras:
        for (c, m), (down, up, alpha) in FILES[name][1].items():
            f = scale * (alpha / down.shape[0] if alpha else 1.0)
            target = w[c][m + ".weight"]
            target += f * (up.flatten(1) @ down.flatten(1)).reshape(target.shape)
    return w


def max_rel(a, b):
    return max(float((a[k] - b[k]).abs().max() / (b[k].abs().max() + 1e-12)) for k in b)


g = torch.Generator().manual_seed(31)
SAMPLE = torch.randn((2, 4, 8, 8), generator=g)
TIMESTEPS = torch.tensor([10, 500])
TEXT_EMBEDS = torch.randn((2, 32), generator=torch.Generator().manual_seed(33))
TIME_IDS = torch.tensor([[16.0, 16.0, 0.0, 0.0, 16.0, 16.0], [1024.0, 768.0, 32.0, 8.0, 512.0, 640.0]])
PROMPT = "a photograph of an astronaut riding a horse"
SCHED = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
             steps_offset=1, timestep_spacing="leading", interpolation_type="linear", use_karras_sigmas=False,
             prediction_type="epsilon")


def ids_of(comp, prompts):
    return tokenizers[comp](prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def outputs():
    """The UNet output and both text encoders' outputs of the current models."""
    with torch.no_grad():
        u = models["unet"](SAMPLE, TIMESTEPS, encoder_hidden_states=CONTEXT,
                           added_cond_kwargs={"text_embeds": TEXT_EMBEDS, "time_ids": TIME_IDS}).sample
        te = {}
        for comp in TES:
            ids = ids_of(comp, ["", PROMPT])
            o = models[comp](ids, output_hidden_states=True)
            io = {"input_ids": ids, "last_hidden_state": o.last_hidden_state,
                  "hidden_state_penultimate": o.hidden_states[-2]}  # what SDXL conditions on
            if comp == "text_encoder": io["pooler_output"] = o.pooler_output
            else: io["text_embeds"] = o.text_embeds
            te[comp] = io
    return u, te


def loop(set_dir, steps=4, guidance=5.0, seed=42):
    """reference/sdxl's loop_euler_cfg5 (4 Euler steps, guidance 5, seed 42, no negative prompt: zeros) with the LoRAs,
    checked against StableDiffusionXLPipeline called with the prompt, which must agree bit for bit."""
    unet, te1, te2 = models["unet"], models["text_encoder"], models["text_encoder_2"]
    sch = EulerDiscreteScheduler(**SCHED)
    sch.save_config(f"{set_dir}/scheduler_euler")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tokenizers["text_encoder"],
                                     tokenizer_2=tokenizers["text_encoder_2"], unet=unet,
                                     scheduler=EulerDiscreteScheduler.from_config(sch.config),
                                     force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        pe, npe, ppe, nppe = pipe.encode_prompt(PROMPT, device="cpu", num_images_per_prompt=1,
                                                do_classifier_free_guidance=True, negative_prompt=None)
        add_time_ids = torch.tensor([[16.0, 16.0, 0.0, 0.0, 16.0, 16.0]])
        gen = torch.Generator().manual_seed(seed)
        sch.set_timesteps(steps)
        noise = torch.randn((1, 4, 8, 8), generator=gen)
        lat = noise * sch.init_noise_sigma
        rec = {"noise": noise, "noise_seed": torch.tensor(seed), "init_latents": lat, "timesteps": sch.timesteps.clone(),
               "num_inference_steps": torch.tensor(steps), "cond_emb": pe, "uncond_emb": npe, "cond_pooled": ppe,
               "uncond_pooled": nppe, "add_time_ids": add_time_ids, "guidance_scale": torch.tensor(guidance),
               "init_noise_sigma": torch.tensor(float(sch.init_noise_sigma)), "sigmas": sch.sigmas.clone()}
        added = {"text_embeds": torch.cat([nppe, ppe]), "time_ids": add_time_ids.repeat(2, 1)}
        for i, t in enumerate(sch.timesteps):
            inp = sch.scale_model_input(torch.cat([lat] * 2), t)
            nu, nt = unet(inp, t, encoder_hidden_states=torch.cat([npe, pe]), added_cond_kwargs=added).sample.chunk(2)
            guided = nu + guidance * (nt - nu)
            lat = sch.step(guided, t, lat).prev_sample
            rec.update({f"step{i}_model_input": inp, f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt,
                        f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        image = vae.decode(lat / vae.config.scaling_factor).sample
        rec.update({"final_latents": lat, "image_raw": image, "image_01": (image / 2 + 0.5).clamp(0, 1)})
        img = pipe(prompt=PROMPT, num_inference_steps=steps, guidance_scale=guidance, output_type="pt",
                   generator=torch.Generator().manual_seed(seed)).images
    name = os.path.basename(set_dir)
    diff = float((img - rec["image_01"]).abs().max())
    report[f"{name}/loop_pipeline_image01_maxabs_diff"] = diff
    assert diff == 0.0, f"{name}: the manual loop differs from StableDiffusionXLPipeline by {diff}"
    save(f"{set_dir}/loop_euler_cfg5.safetensors", rec, {"prompt": PROMPT, "negative_prompt": "",
                                                          "negative_prompt_is_none": "True"})


def record(set_dir, loras, with_loop):
    """unet_io, text_encoder_io and text_encoder_2_io of the current (fused) models, checked against the formula."""
    u, te = outputs()
    save(f"{set_dir}/unet_io.safetensors", {"sample": SAMPLE, "timesteps": TIMESTEPS, "encoder_hidden_states": CONTEXT,
                                             "text_embeds": TEXT_EMBEDS, "time_ids": TIME_IDS, "out": u})
    for comp in TES: save(f"{set_dir}/{comp}_io.safetensors", te[comp])
    name = os.path.basename(set_dir)
    if loras:
        want = expected_weights(loras)
        rel = {c: max_rel(models[c].state_dict(), want[c]) for c in models}
        moved = {c: max_rel(BASE[c], want[c]) for c in models}  # the formula must move the weights (a sanity check)
        report[f"{name}/fused_vs_formula_max_rel"] = rel
        assert all(r < 1e-6 for r in rel.values()), f"{name}: diffusers' fused weights differ from the formula: {rel}"
        assert all(m > 0.01 for m in moved.values()), f"{name}: a component is not moved: {moved}"
        change = {"unet": float((u - BASE_OUT[0]).abs().max() / BASE_OUT[0].abs().max())}
        for comp in TES:
            a, b = te[comp]["hidden_state_penultimate"], BASE_OUT[1][comp]["hidden_state_penultimate"]
            change[comp] = float((a - b).abs().max() / b.abs().max())
        report[f"{name}/max_rel_change_vs_base"] = change
        assert all(c > 1e-3 for c in change.values()), f"{name}: a LoRA does not move an output: {change}"
    if with_loop: loop(set_dir)


# ---- reference/sdxl: every layout, two at once, removed -------------------------------------------------------------
use(SDXL, 64, 32)
KOHYA = make(21, ATTN + FF + PROJ + CONV, TE_ATTN + TE_MLP, 4, 2.0)
PEFT = make(22, ATTN[:16], TE_ATTN, 8, None)
OLD = make(23, ATTN[8:16] + FF[2:], TE_MLP, 2, None)
HF_KOHYA = {k: v for k, v in KOHYA.items() if k[0] != "unet" or k[1].startswith(("up_blocks", MID))}
FILES = {"sdxl_kohya": (kohya_file(KOHYA, True), KOHYA), "sdxl_kohya_hf": (kohya_file(HF_KOHYA, False), HF_KOHYA),
         "sdxl_peft": (peft_file(PEFT), PEFT), "sdxl_diffusers": (diffusers_file(OLD), OLD)}
for n, (sd, _) in FILES.items(): save(f"{OUT}/loras/{n}.safetensors", sd)
CASES = {"sdxl_kohya": [("sdxl_kohya", 0.8)], "sdxl_kohya_hf": [("sdxl_kohya_hf", 0.7)], "sdxl_peft": [("sdxl_peft", 1.0)],
         "sdxl_diffusers": [("sdxl_diffusers", 0.5)], "sdxl_two": [("sdxl_kohya", 0.8), ("sdxl_peft", 0.6)]}
for case, loras in CASES.items():
    models = load()
    for n, s in loras: apply(n, s)
    record(f"{OUT}/{case}", loras, case == "sdxl_kohya")
    components_json(f"{OUT}/{case}", loras)
# removed: both LoRAs applied and removed again; the recorded outputs are the base models' (as gen_lora.py's removed/)
models = load()
record(f"{OUT}/sdxl_removed", [], False)
components_json(f"{OUT}/sdxl_removed", CASES["sdxl_two"], remove=True)

# ---- the single-file SDXL model (reference/single-file/sdxl: hidden 64, 2 encoder layers, UNet (32, 32)), from the
# diffusers folders gen_single_file.py wrote, pinned by its folder_tensors.json: a kohya LoRA trained on that file ------
with open(os.path.join(FILE_SET, "folder_tensors.json")) as f:
    for comp, entry in json.load(f).items():
        path = os.path.join(FILE_WORK, entry["file"])
        assert os.path.isfile(path) and sha256(path) == entry["file_sha256"], \
            f"{path} is not the single file's {comp} (run tools/refgen/gen_single_file.py first; it rewrites them)"
use(FILE_WORK, 128, 34)
FILES["sdxl_file_kohya"] = (None, make(24, ATTN + FF + PROJ + CONV, TE_ATTN + TE_MLP, 4, 8.0))
save(f"{OUT}/loras/sdxl_file_kohya.safetensors", kohya_file(FILES["sdxl_file_kohya"][1], True))
models = load()
apply("sdxl_file_kohya", 0.9)
record(f"{OUT}/sdxl_file_kohya", [("sdxl_file_kohya", 0.9)], True)
components_json(f"{OUT}/sdxl_file_kohya", [("sdxl_file_kohya", 0.9)])

with open(f"{OUT}/report_sdxl.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
