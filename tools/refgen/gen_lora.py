"""LoRA reference sets for reference/lora/ (docs/VERIFY.md formats plus components.json "loras"), recorded with
diffusers 0.27.2 / transformers 4.30.0 on CPU fp32 over the tiny random-weight models of the shared reference.

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_lora.py \
        [--tiny ../shared/reference/tiny] [--tokenizer ../shared/reference/tokenizer] [--out reference/lora]

Random LoRAs in every layout the runtime reads (loras/*.safetensors), applied the way diffusers 0.27.2 does without
PEFT (this environment has no peft, and transformers 4.30 predates PEFT's text-encoder hooks):
  UNet:          every nn.Linear / nn.Conv2d of the UNet swapped for diffusers' LoRACompatibleLinear / LoRACompatibleConv
                 with the same weights (0.27.2's blocks build plain layers, so its non-PEFT load_attn_procs finds no
                 LoRA-compatible layer otherwise; diffusers <= 0.26 built these classes itself), then
                 StableDiffusionPipeline.lora_state_dict (diffusers' kohya -> diffusers key conversion, and for
                 LDM-named kohya keys _maybe_map_sgm_blocks_to_diffusers with the UNet config), then
                 unet.load_attn_procs(state_dict, network_alphas) (LoRACompatibleLinear/Conv) and
                 unet.fuse_lora(lora_scale=scale); a second LoRA is loaded and fused on top; unfuse_lora() removes.
  text encoder:  the same state dict's text_encoder.* keys through convert_state_dict_to_diffusers, each layer wrapped
                 in diffusers' PatchedLoraProjection (what diffusers' non-PEFT text-encoder LoRA used) and fused with
                 _fuse_lora(lora_scale=scale); _unfuse_lora() removes.
Checks before anything is written (report.json): the fused weights equal W + scale * alpha / rank * up @ down
computed here from the generator's own tensors (1e-6), the unfused UNet (LoRA layers adding up(down(x))) equals the
fused one at scale 1 (1e-5), and the loop equals StableDiffusionPipeline (0).
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
from transformers import CLIPTextModel, CLIPTokenizer
from diffusers import UNet2DConditionModel, AutoencoderKL, StableDiffusionPipeline, EulerDiscreteScheduler
from diffusers.models.lora import PatchedLoraProjection, LoRACompatibleLinear, LoRACompatibleConv
from diffusers.utils.state_dict_utils import convert_state_dict_to_diffusers
from diffusers.utils import USE_PEFT_BACKEND
import diffusers, transformers

assert not USE_PEFT_BACKEND, "this generator records diffusers' non-PEFT LoRA path"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ap = argparse.ArgumentParser()
ap.add_argument("--tiny", default=os.path.join(REPO, "..", "shared", "reference", "tiny"))
ap.add_argument("--tokenizer", default=os.path.join(REPO, "..", "shared", "reference", "tokenizer"))
ap.add_argument("--out", default=os.path.join(REPO, "reference", "lora"))
args = ap.parse_args()
TINY, OUT = os.path.abspath(args.tiny), os.path.abspath(args.out)
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_lora.py"}
def save(path, tensors):
    safetensors_writer.write(path, tensors, META)


def sha256(path):
    with open(path, "rb") as f: return hashlib.sha256(f.read()).hexdigest()


def components_json(set_dir, names, loras, remove=False):
    """components.json: the tiny models (relative path, sha256) and the LoRAs applied, in order, with their scales."""
    hashes = {}
    for c in names:
        for fn in sorted(os.listdir(os.path.join(TINY, c))):
            if fn.endswith(".safetensors"): hashes[f"{c}/{fn}"] = sha256(os.path.join(TINY, c, fn))
    entries = [{"file": os.path.relpath(f"{OUT}/loras/{n}.safetensors", set_dir), "scale": s,
                "sha256": sha256(f"{OUT}/loras/{n}.safetensors")} for n, s in loras]
    doc = {"components_from": os.path.relpath(TINY, set_dir), "sha256": hashes, "loras": entries}
    if remove: doc["remove_loras"] = True
    os.makedirs(set_dir, exist_ok=True)
    with open(os.path.join(set_dir, "components.json"), "w") as f:
        json.dump(doc, f, indent=1); f.write("\n")


class FoldedTokenizer(CLIPTokenizer):
    """The real CLIP BPE with ids folded into the tiny text encoder's 1000 (shared reference FORMAT.md)."""
    def __call__(self, *a, **k):
        out = super().__call__(*a, **k)
        fold = lambda t: 998 if t == 49406 else 999 if t == 49407 else t % 997 + 1
        ids = out["input_ids"]
        out["input_ids"] = ids.apply_(fold) if torch.is_tensor(ids) else \
            [[fold(t) for t in row] for row in ids] if ids and isinstance(ids[0], list) else [fold(t) for t in ids]
        return out


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
    return (lora_compatible(UNet2DConditionModel.from_pretrained(f"{TINY}/unet").eval()),
            CLIPTextModel.from_pretrained(f"{TINY}/text_encoder").eval())


unet, text_encoder = load()
vae = AutoencoderKL.from_pretrained(f"{TINY}/vae").eval()
tok = FoldedTokenizer(f"{args.tokenizer}/vocab.json", f"{args.tokenizer}/merges.txt", model_max_length=77)
report = {"versions": META}
BASE_UNET = {k: v.clone() for k, v in unet.state_dict().items()}
BASE_TE = {k: v.clone() for k, v in text_encoder.state_dict().items()}

# ---- the LoRAs: module (diffusers name), rank, alpha (None: none in the file) --------------------------------------
ATTN = [f"{b}.transformer_blocks.0.{a}.{p}" for b in ("down_blocks.0.attentions.0", "mid_block.attentions.0",
        "up_blocks.1.attentions.0", "up_blocks.1.attentions.1") for a in ("attn1", "attn2")
        for p in ("to_q", "to_k", "to_v", "to_out.0")]
FF = [f"{b}.transformer_blocks.0.{p}" for b in ("down_blocks.0.attentions.0", "up_blocks.1.attentions.1")
      for p in ("ff.net.0.proj", "ff.net.2")]
PROJ = [f"{b}.{p}" for b in ("down_blocks.0.attentions.0", "mid_block.attentions.0") for p in ("proj_in", "proj_out")]
CONV = ["down_blocks.0.resnets.0.conv1", "down_blocks.1.resnets.0.conv2", "down_blocks.1.resnets.0.conv_shortcut",
        "up_blocks.0.resnets.1.conv1", "mid_block.resnets.0.time_emb_proj"]
TE_ATTN = [f"text_model.encoder.layers.{i}.self_attn.{p}" for i in (0, 1) for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
TE_MLP = [f"text_model.encoder.layers.{i}.mlp.{p}" for i in (0, 1) for p in ("fc1", "fc2")]


def make(seed, unet_modules, te_modules, rank, alpha):
    """Random (down, up) per module, sized so that alpha/rank * up @ down is about half the weight's spread."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for comp, mods, base in (("unet", unet_modules, BASE_UNET), ("text_encoder", te_modules, BASE_TE)):
        for m in mods:
            w = base[m + ".weight"]
            cols = w[0].numel()
            k = w.shape[2] if w.dim() == 4 else 1
            down = torch.randn((rank, w.shape[1], k, k) if w.dim() == 4 else (rank, cols), generator=g) / cols ** 0.5
            up = torch.randn((w.shape[0], rank, 1, 1) if w.dim() == 4 else (w.shape[0], rank), generator=g)
            up *= 0.5 * float(w.std()) * (cols / rank) ** 0.5 * (rank / alpha if alpha else 1.0)
            out[(comp, m)] = (down, up, alpha)
    return out


KOHYA = make(1, ATTN + FF + PROJ + CONV, TE_ATTN + TE_MLP, 4, 2.0)
PEFT = make(2, ATTN, TE_ATTN, 8, None)
OLD = make(3, ATTN[:8], [], 2, None)
LDM_NAMES = {"down_blocks.0.attentions.0": "input_blocks.1.1", "mid_block.attentions.0": "middle_block.1",
             "up_blocks.1.attentions.0": "output_blocks.2.1", "up_blocks.1.attentions.1": "output_blocks.3.1"}


def kohya_file(lora, ldm=False):
    sd = {}
    for (comp, m), (down, up, alpha) in lora.items():
        if ldm:
            for hf, l in LDM_NAMES.items(): m = m.replace(hf, l)
        name = ("lora_unet_" if comp == "unet" else "lora_te_") + m.replace(".", "_")
        sd[name + ".lora_down.weight"], sd[name + ".lora_up.weight"] = down, up
        if alpha is not None: sd[name + ".alpha"] = torch.tensor(alpha)
    return sd


def peft_file(lora):
    return {f"{c}.{m}.lora_{ab}.weight": t for (c, m), (d, u, _) in lora.items() for ab, t in (("A", d), ("B", u))}


def old_file(lora):  # unet.save_attn_procs in diffusers < 0.21: attention processors, no prefix
    sd = {}
    for (c, m), (d, u, _) in lora.items():
        mod, proj = m.rsplit(".", 1) if not m.endswith("to_out.0") else (m[:-len(".to_out.0")], "to_out")
        sd[f"{mod}.processor.{proj}_lora.down.weight"], sd[f"{mod}.processor.{proj}_lora.up.weight"] = d, u
    return sd


FILES = {"kohya": (kohya_file(KOHYA), KOHYA), "kohya_ldm": (kohya_file({k: v for k, v in KOHYA.items()
         if any(k[1].startswith(b) for b in LDM_NAMES) or k[0] == "text_encoder"}, ldm=True), None),
         "peft": (peft_file(PEFT), PEFT), "diffusers_old": (old_file(OLD), OLD)}
for n, (sd, _) in FILES.items(): save(f"{OUT}/loras/{n}.safetensors", sd)
# the LDM-named file holds the attention-block layers of the kohya LoRA (and its text encoder), renamed
FILES["kohya_ldm"] = (FILES["kohya_ldm"][0], {k: v for k, v in KOHYA.items()
                      if any(k[1].startswith(b) for b in LDM_NAMES) or k[0] == "text_encoder"})

te_patched = {}


def apply(name, scale):
    """Loads loras/<name>.safetensors the diffusers way and fuses it at `scale` (on top of what is fused already)."""
    path = f"{OUT}/loras/{name}.safetensors"
    sd, alphas = StableDiffusionPipeline.lora_state_dict(path, unet_config=unet.config)
    sd, alphas = dict(sd), dict(alphas or {})
    if all(k.startswith(("unet.", "text_encoder.")) for k in sd):
        u_sd = {k[5:]: v for k, v in sd.items() if k.startswith("unet.")}
        u_al = {k[5:]: v for k, v in alphas.items() if k.startswith("unet.")}
    else:  # the attention-processor format: UNet keys without prefix
        u_sd, u_al = sd, {}
    if any(".lora_A.weight" in k for k in u_sd): u_sd = convert_state_dict_to_diffusers(u_sd)  # PEFT -> lora.down/up
    unet.load_attn_procs(u_sd, network_alphas=u_al or None, low_cpu_mem_usage=False)
    unet.fuse_lora(lora_scale=scale)
    te_sd = {k[13:]: v for k, v in sd.items() if k.startswith("text_encoder.")}
    te_sd = convert_state_dict_to_diffusers(te_sd) if te_sd else {}
    te_al = {}
    for k, v in alphas.items():
        if k.startswith("text_encoder."):
            m = k[13:].replace(".alpha", "").replace(".down.weight", "").replace(".lora_linear_layer", "")
            for a, b in (("to_q_lora", "q_proj"), ("to_k_lora", "k_proj"), ("to_v_lora", "v_proj"), ("to_out_lora", "out_proj")):
                m = m.replace(a, b)
            te_al[m] = v
    for key in [k for k in te_sd if k.endswith("lora_linear_layer.down.weight")]:
        m = key[:-len(".lora_linear_layer.down.weight")]
        parent, leaf = text_encoder.get_submodule(m.rsplit(".", 1)[0]), m.rsplit(".", 1)[1]
        layer = getattr(parent, leaf)
        regular = layer.regular_linear_layer if isinstance(layer, PatchedLoraProjection) else layer
        down, up = te_sd[key], te_sd[key.replace(".down.", ".up.")]
        p = PatchedLoraProjection(regular, lora_scale=scale, network_alpha=te_al.get(m), rank=down.shape[0])
        p.lora_linear_layer.down.weight.data.copy_(down); p.lora_linear_layer.up.weight.data.copy_(up)
        setattr(parent, leaf, p)
        p._fuse_lora(lora_scale=scale)
        te_patched.setdefault(m, []).append(p)


def remove():
    unet.unfuse_lora()
    for m, ps in te_patched.items():
        for p in reversed(ps): p._unfuse_lora()
        parent, leaf = text_encoder.get_submodule(m.rsplit(".", 1)[0]), m.rsplit(".", 1)[1]
        setattr(parent, leaf, ps[0].regular_linear_layer)
    te_patched.clear()


def expected_weights(loras):
    """W + sum scale * alpha/rank * up @ down from the generator's tensors (not through diffusers)."""
    u, t = {k: v.clone() for k, v in BASE_UNET.items()}, {k: v.clone() for k, v in BASE_TE.items()}
    for name, scale in loras:
        for (c, m), (down, up, alpha) in FILES[name][1].items():
            f = scale * (alpha / down.shape[0] if alpha else 1.0)
            target = (u if c == "unet" else t)[m + ".weight"]
            target += f * (up.flatten(1) @ down.flatten(1)).reshape(target.shape)
    return u, t


def max_rel(a, b):
    return max(float((a[k] - b[k]).abs().max() / (b[k].abs().max() + 1e-12)) for k in b)


g = torch.Generator().manual_seed(11)
SAMPLE = torch.randn((2, 4, 8, 8), generator=g)
TIMESTEPS = torch.tensor([10, 500])
CONTEXT = torch.randn((2, 77, 32), generator=g)
PROMPT = "a photograph of an astronaut riding a horse"
IDS = tok(["", PROMPT], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def record(set_dir, loras, scale_check=None):
    """unet_io and text_encoder_io of the current (fused) models, plus a 3-step Euler loop checked against the pipeline."""
    with torch.no_grad():
        out = unet(SAMPLE, TIMESTEPS, encoder_hidden_states=CONTEXT).sample
        te = text_encoder(IDS)
    save(f"{set_dir}/unet_io.safetensors", {"sample": SAMPLE, "timesteps": TIMESTEPS, "encoder_hidden_states": CONTEXT,
                                             "out": out})
    save(f"{set_dir}/text_encoder_io.safetensors", {"input_ids": IDS, "last_hidden_state": te.last_hidden_state,
                                                     "pooler_output": te.pooler_output})
    sch = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                 beta_schedule="scaled_linear", steps_offset=1)
    sch.save_config(f"{set_dir}/scheduler_euler")
    steps, guidance, seed = 3, 7.5, 5
    with torch.no_grad():
        cond, uncond = text_encoder(IDS[1:]).last_hidden_state, text_encoder(IDS[:1]).last_hidden_state  # as encode_prompt
        gen = torch.Generator().manual_seed(seed)
        sch.set_timesteps(steps)
        noise = torch.randn((1, 4, 8, 8), generator=gen)
        lat = noise * sch.init_noise_sigma
        rec = {"noise": noise, "noise_seed": torch.tensor(seed), "init_latents": lat, "timesteps": sch.timesteps.clone(),
               "num_inference_steps": torch.tensor(steps), "cond_emb": cond, "uncond_emb": uncond,
               "guidance_scale": torch.tensor(guidance), "init_noise_sigma": torch.tensor(float(sch.init_noise_sigma)),
               "alphas_cumprod": sch.alphas_cumprod, "sigmas": sch.sigmas.clone()}
        for i, t in enumerate(sch.timesteps):
            inp = sch.scale_model_input(torch.cat([lat] * 2), t)
            nu, nt = unet(inp, t, encoder_hidden_states=torch.cat([uncond, cond])).sample.chunk(2)
            guided = nu + guidance * (nt - nu)
            lat = sch.step(guided, t, lat).prev_sample
            rec.update({f"step{i}_model_input": inp, f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt,
                        f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        image = vae.decode(lat / vae.config.scaling_factor).sample
        rec.update({"final_latents": lat, "image_raw": image, "image_01": (image / 2 + 0.5).clamp(0, 1)})
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                                       scheduler=EulerDiscreteScheduler.from_config(sch.config), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        img = pipe(prompt=PROMPT, negative_prompt="", num_inference_steps=steps, guidance_scale=guidance, height=16,
                   width=16, output_type="pt", generator=torch.Generator().manual_seed(seed)).images
    name = os.path.basename(set_dir)
    diff = float((img - rec["image_01"]).abs().max())
    report[f"{name}/loop_pipeline_image01_maxabs_diff"] = diff
    assert diff == 0.0, f"{name}: the manual loop differs from StableDiffusionPipeline by {diff}"
    save(f"{set_dir}/loop_euler_cfg7.5.safetensors", rec)
    if loras:
        eu, et = expected_weights(loras)
        ru, rt = max_rel(unet.state_dict(), eu), max_rel(text_encoder.state_dict(), et)
        bu, bt = max_rel(BASE_UNET, eu), max_rel(BASE_TE, et)  # the formula must move the weights (a sanity check)
        report[f"{name}/fused_vs_formula_max_rel"] = {"unet": ru, "text_encoder": rt, "base_vs_formula_unet": bu,
                                                     "base_vs_formula_text_encoder": bt}
        assert bu > 0.01 and (bt > 0.01 or not any(c == "text_encoder" for n, _ in loras for c, _ in FILES[n][1]))
        assert ru < 1e-6 and rt < 1e-6, f"{name}: diffusers' fused weights differ from the formula: {ru}, {rt}"
    with torch.no_grad():
        base_u = UNet2DConditionModel.from_pretrained(f"{TINY}/unet").eval()(SAMPLE, TIMESTEPS, encoder_hidden_states=CONTEXT).sample
    report[f"{name}/unet_out_max_rel_change_vs_base"] = float((out - base_u).abs().max() / base_u.abs().max())
    return out


def unfused_check(name):
    """The LoRA at scale 1 unfused (LoRACompatible layers adding up(down(x))) against the same fused."""
    outs = []
    for fuse in (False, True):
        fresh = lora_compatible(UNet2DConditionModel.from_pretrained(f"{TINY}/unet").eval())
        sd, alphas = StableDiffusionPipeline.lora_state_dict(f"{OUT}/loras/{name}.safetensors", unet_config=fresh.config)
        u_sd = {k[5:]: v for k, v in sd.items() if k.startswith("unet.")}
        u_al = {k[5:]: v for k, v in (alphas or {}).items() if k.startswith("unet.")}
        if any(".lora_A.weight" in k for k in u_sd): u_sd = convert_state_dict_to_diffusers(u_sd)
        fresh.load_attn_procs(u_sd, network_alphas=u_al or None, low_cpu_mem_usage=False)
        if fuse: fresh.fuse_lora(lora_scale=1.0)
        with torch.no_grad():
            outs.append(fresh(SAMPLE, TIMESTEPS, encoder_hidden_states=CONTEXT).sample)
    return float((outs[0] - outs[1]).abs().max() / outs[1].abs().max())


CASES = {"kohya": [("kohya", 0.8)], "kohya_ldm": [("kohya_ldm", 0.8)], "peft": [("peft", 1.0)],
         "diffusers_old": [("diffusers_old", 0.5)], "two": [("kohya", 0.8), ("peft", 0.6)]}
for case, loras in CASES.items():
    unet, text_encoder = load()
    for n, s in loras: apply(n, s)
    out = record(f"{OUT}/{case}", loras)
    if len(loras) == 1 and case != "diffusers_old":
        d = unfused_check(loras[0][0])
        report[f"{case}/unfused_vs_fused_scale1_max_rel"] = d
        assert d < 1e-5, f"{case}: unfused differs from fused by {d}"
    components_json(f"{OUT}/{case}", ["unet", "vae", "text_encoder"], loras)
    if case == "two":  # removed: unfuse_lora after both (diffusers unfuses only the last fusion of each layer, so
        remove()       # its weights are not the base; the set records the base outputs, computed by diffusers)
        unet, text_encoder = load()
        record(f"{OUT}/removed", [])
        components_json(f"{OUT}/removed", ["unet", "vae", "text_encoder"], loras, remove=True)
        del report["removed/unet_out_max_rel_change_vs_base"]

with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
