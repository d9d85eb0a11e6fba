"""Reference sets for reference/single-file/: tiny random-weight SD 1.x and SD 2.x models written twice, as diffusers
folders and as one .safetensors file in the original CompVis/LDM layout, plus the component IO tensors
(docs/VERIFY.md formats) recorded from the diffusers folders. diffusers 0.27.2 / transformers 4.30.0, CPU fp32.

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_single_file.py \
        [--out reference/single-file]

The LDM file is written with the inverse of diffusers' conversion (scripts/convert_diffusers_to_original_stable_
diffusion.py at v0.27.2, generalised from SD's 4 blocks x 2 layers to any count; for SD 2.x the OpenCLIP text tower with
fused attn.in_proj_weight/bias), then read back with diffusers' own converter (pipelines/stable_diffusion/
convert_from_ckpt.py); the round trip must give every tensor of the folders bit for bit, or the script stops.
See reference/single-file/README.md for what each set holds.
"""
import argparse, hashlib, json, os, shutil, struct, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)
from transformers import tokenization_utils_base as tub
if "__str__" not in tub.AddedToken.__dict__:  # transformers 4.30 without `tokenizers` (see gen_strength.py)
    tub.AddedToken.__str__ = lambda self: self.content
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
from diffusers import UNet2DConditionModel, AutoencoderKL
from diffusers.pipelines.stable_diffusion.convert_from_ckpt import (
    convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint)
import diffusers, transformers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(REPO, "reference", "single-file"))
ap.add_argument("--work", default=os.path.join(os.environ.get("REFGEN_WORK", "/tmp/refgen"), "out", "single-file"),
                help="where the diffusers folders are written (not committed: folder_tensors.json pins their bytes)")
args = ap.parse_args()
OUT, WORK = os.path.abspath(args.out), os.path.abspath(args.work)
META = {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "generator": "tools/refgen/gen_single_file.py"}
def save(path, tensors, metadata=META):
    safetensors_writer.write(path, tensors, metadata, safetensors_writer.WITH_F16)


def sha256(path):
    with open(path, "rb") as f: return hashlib.sha256(f.read()).hexdigest()


def perturb_constant_params(model, seed):
    """Norm weights (=1) and biases (=0) are constant after default init; add 0.1 N(0,1) so swaps show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.numel() > 1 and bool(torch.all(p == p.flatten()[0])):
                p.add_(0.1 * torch.randn(p.shape, generator=g))


# ---------------------------------------------------------------------------------------------------------------
# diffusers -> LDM (the inverse of convert_from_ckpt.py), as prefix tables: every diffusers key is rewritten by its
# longest matching prefix, then by the leaf renames of its module kind.
UNET_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
               ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]


def unet_prefixes(cfg):
    n, L = len(cfg["block_out_channels"]), cfg["layers_per_block"]
    p = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
         "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
         "mid_block.resnets.0.": "middle_block.0.", "mid_block.attentions.0.": "middle_block.1.",
         "mid_block.resnets.1.": "middle_block.2.",
         "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2."}  # SDXL's text_time
    for i in range(n):
        for j in range(L):
            p[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{(L + 1) * i + j + 1}.0."
            p[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{(L + 1) * i + j + 1}.1."
        if i < n - 1:
            p[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{(L + 1) * (i + 1)}.0.op."
        up_attn = cfg["up_block_types"][i].startswith("CrossAttn")
        for j in range(L + 1):
            p[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{(L + 1) * i + j}.0."
            p[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{(L + 1) * i + j}.1."
        if i < n - 1:
            p[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{(L + 1) * i + L}.{2 if up_attn else 1}."
    return p


def rename(key, prefixes):
    best = max((k for k in prefixes if key.startswith(k)), key=len, default=None)
    assert best is not None, f"no LDM prefix for {key}"
    return prefixes[best] + key[len(best):], key[len(best):]


def unet_to_ldm(sd, cfg):
    prefixes, out = unet_prefixes(cfg), {}
    for k, v in sd.items():
        new, leaf = rename(k, prefixes)
        if ".resnets." in k or k.startswith("mid_block.resnets"):
            for hf, ldm in UNET_RESNET:
                if leaf.startswith(hf + "."): new = new[: len(new) - len(leaf)] + ldm + leaf[len(hf):]
        out["model.diffusion_model." + new] = v
    return out


def vae_to_ldm(sd, cfg):
    n, L = len(cfg["block_out_channels"]), cfg["layers_per_block"]
    p = {"quant_conv.": "quant_conv.", "post_quant_conv.": "post_quant_conv."}
    for part in ("encoder", "decoder"):
        p.update({f"{part}.conv_in.": f"{part}.conv_in.", f"{part}.conv_out.": f"{part}.conv_out.",
                  f"{part}.conv_norm_out.": f"{part}.norm_out.", f"{part}.mid_block.attentions.0.": f"{part}.mid.attn_1.",
                  f"{part}.mid_block.resnets.0.": f"{part}.mid.block_1.", f"{part}.mid_block.resnets.1.": f"{part}.mid.block_2."})
    for i in range(n):
        for j in range(L):
            p[f"encoder.down_blocks.{i}.resnets.{j}."] = f"encoder.down.{i}.block.{j}."
        for j in range(L + 1):
            p[f"decoder.up_blocks.{i}.resnets.{j}."] = f"decoder.up.{n - 1 - i}.block.{j}."
        if i < n - 1:
            p[f"encoder.down_blocks.{i}.downsamplers.0."] = f"encoder.down.{i}.downsample."
            p[f"decoder.up_blocks.{i}.upsamplers.0."] = f"decoder.up.{n - 1 - i}.upsample."
    attn = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}
    out = {}
    for k, v in sd.items():
        new, leaf = rename(k, p)
        if ".mid_block.attentions.0." in k:
            hf = next(h for h in attn if leaf.startswith(h))
            new = new[: len(new) - len(leaf)] + attn[hf] + leaf[len(hf):]
            if v.ndim == 2: v = v.reshape(*v.shape, 1, 1)   # linear [C, C] -> 1x1 conv [C, C, 1, 1]
        elif leaf.startswith("conv_shortcut."):
            new = new[: len(new) - len(leaf)] + "nin_shortcut." + leaf[len("conv_shortcut."):]
        out["first_stage_model." + new] = v
    return out


def openclip_tower(sd, layers, P):
    """transformers CLIPTextModel keys -> open_clip's text tower under P, q/k/v fused into attn.in_proj_weight/bias."""
    out = {}
    leaf = [("layer_norm1.", "ln_1."), ("layer_norm2.", "ln_2."), ("mlp.fc1.", "mlp.c_fc."), ("mlp.fc2.", "mlp.c_proj."),
            ("self_attn.out_proj.", "attn.out_proj.")]
    out[P + "token_embedding.weight"] = sd["text_model.embeddings.token_embedding.weight"]
    out[P + "positional_embedding"] = sd["text_model.embeddings.position_embedding.weight"]
    out[P + "ln_final.weight"] = sd["text_model.final_layer_norm.weight"]
    out[P + "ln_final.bias"] = sd["text_model.final_layer_norm.bias"]
    for i in range(layers):
        h, o = f"text_model.encoder.layers.{i}.", f"{P}transformer.resblocks.{i}."
        for hf, oc in leaf:
            for s in ("weight", "bias"): out[o + oc + s] = sd[h + hf + s]
        for s in ("weight", "bias"):
            out[o + "attn.in_proj_" + s] = torch.cat([sd[h + f"self_attn.{x}_proj.{s}"] for x in "qkv"])
    return out


def openclip_to_ldm(sd, layers, extra_seed):
    """transformers CLIPTextModel (SD 2.x's penultimate-layer tower) -> open_clip keys, q/k/v fused into in_proj; plus
    what a real SD 2.x file also has and SD 2.x does not use: the last residual block, text_projection, logit_scale."""
    P = "cond_stage_model.model."
    out = openclip_tower(sd, layers, P)
    g = torch.Generator().manual_seed(extra_seed)
    last = f"{P}transformer.resblocks.{layers - 1}."
    for k in [k for k in out if k.startswith(last)]:
        out[f"{P}transformer.resblocks.{layers}." + k[len(last):]] = torch.randn(out[k].shape, generator=g).to(out[k].dtype)
    d = sd["text_model.final_layer_norm.weight"].shape[0]
    out[P + "text_projection"] = torch.randn(d, d, generator=g).to(out[P + "ln_final.weight"].dtype)
    out[P + "logit_scale"] = torch.tensor(4.6052).to(out[P + "ln_final.weight"].dtype)
    return out


# ---------------------------------------------------------------------------------------------------------------
TEXT_IDS = [  # the shared reference's tiny/text_encoder_io input_ids: "" and "a photograph of an astronaut riding a
    # horse", real CLIP BPE ids folded into the tiny vocabulary (t -> t % 997 + 1, bos 998, eos 999)
    [998] + [999] * 76,
    [998, 321, 878, 540, 551, 431, 784, 321, 571, 999] + [999] * 67]


def pin_folders(set_dir, work, components, ckpt):
    """folder_tensors.json (the folders' tensors, pinned byte for byte without committing them twice) and
    components.json (the checkpoint and its sha256)."""
    manifest = {}
    for comp in components:
        fn = "model.safetensors" if comp.startswith("text_encoder") else "diffusion_pytorch_model.safetensors"
        path = os.path.join(work, comp, fn)
        with open(path, "rb") as f: buf = f.read()
        (n,) = struct.unpack("<Q", buf[:8]); hdr = json.loads(buf[8:8 + n])
        manifest[comp] = {"file": f"{comp}/{fn}", "file_sha256": sha256(path), "tensors": {
            k: {"dtype": v["dtype"], "shape": v["shape"],
                "sha256": hashlib.sha256(buf[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]]).hexdigest()}
            for k, v in sorted(hdr.items()) if k != "__metadata__"}}
    with open(os.path.join(set_dir, "folder_tensors.json"), "w") as f:  # one line per tensor
        f.write(json.dumps(manifest, separators=(",", ":")).replace('},"', '},\n"') + "\n")
    hashes = {ckpt: sha256(os.path.join(set_dir, ckpt))}
    with open(os.path.join(set_dir, "components.json"), "w") as f:
        json.dump({"checkpoint": ckpt, "sha256": hashes}, f, indent=1); f.write("\n")


class PositionIdsLenient:
    """convert_from_ckpt drops position_ids, which transformers 4.30 still saves: load_state_dict strict but for
    that buffer, while the round trip runs."""
    def __enter__(self):
        self.strict_load = strict_load = torch.nn.Module.load_state_dict

        def load_without_position_ids(module, state_dict, strict=True):
            r = strict_load(module, state_dict, strict=False)
            assert not r.unexpected_keys and set(r.missing_keys) <= {"text_model.embeddings.position_ids"}, r
            return r
        torch.nn.Module.load_state_dict = load_without_position_ids

    def __exit__(self, *exc):
        torch.nn.Module.load_state_dict = self.strict_load


def assert_bit_equal(check, models, dtype):
    """Every tensor diffusers' converter read back equals the folder model's, bit for bit."""
    for comp, model in models.items():
        want = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
        got = check[comp]
        assert set(got) == set(want), (comp, set(got) ^ set(want))
        bad = [k for k in want if not torch.equal(got[k].to(want[k].dtype).reshape(want[k].shape), want[k])]
        assert not bad, (comp, bad[:5])


def make_set(name, sd2, dtype, seed):
    set_dir, work = os.path.join(OUT, name), os.path.join(WORK, name)
    for d in (set_dir, work):
        if os.path.isdir(d): shutil.rmtree(d)
        os.makedirs(d)
    hidden = 64  # head size 64 (CLIP's): the single-file loader derives the text encoder's heads as hidden / 64
    torch.manual_seed(seed)
    tcfg = CLIPTextConfig(vocab_size=1000, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=hidden // 64, max_position_embeddings=77,
                          hidden_act="gelu" if sd2 else "quick_gelu", layer_norm_eps=1e-5, projection_dim=hidden,
                          bos_token_id=998, eos_token_id=999, pad_token_id=0 if sd2 else 999)
    text_encoder = CLIPTextModel(tcfg).eval()
    torch.manual_seed(seed + 1)
    if sd2:  # diffusers' SD 2 test config: attention_head_dim per block, linear projections; 8 channels per head
        unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32),
                                    layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                                    cross_attention_dim=hidden, attention_head_dim=(4, 4), use_linear_projection=True,
                                    norm_num_groups=32).eval()
    else:
        unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32),
                                    layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=hidden,
                                    attention_head_dim=8, norm_num_groups=32).eval()
    torch.manual_seed(seed + 2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 32), layers_per_block=1,
                        latent_channels=4, norm_num_groups=32, sample_size=16).eval()
    for i, m in enumerate((text_encoder, unet, vae)):
        perturb_constant_params(m, seed + 10 + i)
        if dtype != torch.float32: m.to(dtype)          # what the files hold ...
        m.save_pretrained(os.path.join(work, ["text_encoder", "unet", "vae"][i]), safe_serialization=True)
        m.float()                                         # ... and what the reference computes with (fp32)

    # the single file
    te = {k: v.to(dtype) if v.is_floating_point() else v for k, v in text_encoder.state_dict().items()}
    if sd2:
        ldm_text = openclip_to_ldm(te, tcfg.num_hidden_layers, seed + 20)
    else:
        ldm_text = {"cond_stage_model.transformer." + k: v for k, v in te.items()}
    ldm = {**unet_to_ldm({k: v.to(dtype) for k, v in unet.state_dict().items()}, unet.config),
           **vae_to_ldm({k: v.to(dtype) for k, v in vae.state_dict().items()}, vae.config), **ldm_text}
    if not sd2:  # buffers of the LDM training wrapper a real SD 1.x file carries (ignored by loaders)
        betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
        ldm["betas"] = betas.float()
        ldm["alphas_cumprod"] = torch.cumprod(1 - betas, 0).float()
        ldm["model_ema.decay"] = torch.tensor(0.9999)
        ldm["model_ema.num_updates"] = torch.tensor(0, dtype=torch.int64)
    ckpt = f"tiny-{name}.safetensors"
    save(os.path.join(set_dir, ckpt), ldm, {"format": "pt", **META})
    if sd2:  # what an SD 2.x v-prediction checkpoint ships beside it (stablediffusion's v2-inference-v.yaml, cut down)
        with open(os.path.join(set_dir, f"tiny-{name}.yaml"), "w") as f:
            f.write("model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n"
                    "    parameterization: \"v\"\n    linear_start: 0.00085\n    linear_end: 0.0120\n"
                    "    unet_config:\n      target: ldm.modules.diffusionmodules.openaimodel.UNetModel\n      params:\n"
                    "        num_head_channels: 8 # 64 in SD 2.x\n        use_linear_in_transformer: True\n"
                    f"        context_dim: {hidden}\n")

    # diffusers' own converter must read the file back into exactly the folders' tensors
    back = {k: v for k, v in ldm.items()}
    with PositionIdsLenient():
        check = {"unet": convert_ldm_unet_checkpoint(dict(back), dict(unet.config)),
                 "vae": convert_ldm_vae_checkpoint(dict(back), dict(vae.config))}
        if sd2:
            te_back = convert_open_clip_checkpoint(
                {k: v for k, v in back.items() if f"resblocks.{tcfg.num_hidden_layers}." not in k},
                os.path.join(work, "text_encoder"), has_projection=True)
            check["text_encoder"] = {k: v for k, v in te_back.state_dict().items() if not k.startswith("text_projection")}
        else:
            te_back = convert_ldm_clip_checkpoint(dict(back), text_encoder=CLIPTextModel(tcfg).to(dtype))
            check["text_encoder"] = te_back.state_dict()
    assert_bit_equal(check, {"text_encoder": text_encoder, "unet": unet, "vae": vae}, dtype)

    # component IO, recorded from the diffusers folders (weights as stored, computed in fp32)
    ids = torch.tensor(TEXT_IDS)
    if sd2: ids = torch.where(torch.arange(77) > torch.tensor([[1], [9]]), torch.zeros_like(ids), ids)  # pad "!" = 0
    with torch.no_grad():
        o = text_encoder(ids)
        save(os.path.join(set_dir, "text_encoder_io.safetensors"), {
            "input_ids": ids, "last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output})
        g = torch.Generator().manual_seed(seed + 100)
        sample = torch.randn(2, 4, 8, 8, generator=g); ehs = torch.randn(2, 77, hidden, generator=g)
        ts = torch.tensor([10, 500])
        save(os.path.join(set_dir, "unet_io.safetensors"), {
            "sample": sample, "timesteps": ts, "encoder_hidden_states": ehs,
            "out": unet(sample, ts, encoder_hidden_states=ehs).sample,
            "out_t500_scalar": unet(sample, 500, encoder_hidden_states=ehs).sample})
        g = torch.Generator().manual_seed(seed + 101)
        latents = torch.randn(1, 4, 8, 8, generator=g); image = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
        dist = vae.encode(image).latent_dist
        save(os.path.join(set_dir, "vae_io.safetensors"), {
            "latents": latents, "decoded": vae.decode(latents).sample,
            "enc_image": image, "enc_mean": dist.mean, "enc_logvar": dist.logvar})
    pin_folders(set_dir, work, ("text_encoder", "unet", "vae"), ckpt)
    return {"checkpoint": ckpt, "tensors": len(ldm), "bytes": os.path.getsize(os.path.join(set_dir, ckpt)),
            "text_encoder_pad": int(ids[0, -1])}


# ---------------------------------------------------------------------------------------------------------------
# SDXL base: conditioner.embedders.0 (CLIP ViT-L, Hugging Face names), conditioner.embedders.1 (OpenCLIP ViT-bigG,
# every block, text_projection), the UNet's add_embedding as label_emb (scripts/convert_diffusers_to_original_sdxl.py)
SDXL_SCHED = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                  steps_offset=1, timestep_spacing="leading", interpolation_type="linear", use_karras_sigmas=False,
                  prediction_type="epsilon")  # what convert_from_ckpt gives an SDXL file (and SDXL base ships)


def sdxl_loop(set_dir, pipe, steps, guidance, prompt, seed, size=16):
    """The manual loop of docs/VERIFY.md with SDXL's added conditioning, as tools/refgen/gen_sdxl.py records it (Euler,
    no negative prompt: zeros), checked against StableDiffusionXLPipeline called with the prompt string."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    unet, vae = pipe.unet, pipe.vae
    sch = EulerDiscreteScheduler(**SDXL_SCHED)
    sch.save_config(os.path.join(set_dir, "scheduler_euler"))
    with torch.no_grad():
        pe, npe, ppe, nppe = pipe.encode_prompt(prompt, device="cpu", num_images_per_prompt=1,
                                                do_classifier_free_guidance=True, negative_prompt=None)
    add_time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)  # original, crop, target
    gen = torch.Generator().manual_seed(seed)
    sch.set_timesteps(steps)
    noise = torch.randn((1, 4, size // 2, size // 2), generator=gen, dtype=torch.float32)
    lat = noise * sch.init_noise_sigma
    rec = {"noise": noise, "noise_seed": torch.tensor(seed), "init_latents": lat, "timesteps": sch.timesteps.clone(),
           "num_inference_steps": torch.tensor(steps), "cond_emb": pe, "uncond_emb": npe,
           "cond_pooled": ppe, "uncond_pooled": nppe, "add_time_ids": add_time_ids,
           "guidance_scale": torch.tensor(float(guidance)),
           "init_noise_sigma": torch.tensor(float(sch.init_noise_sigma)), "sigmas": sch.sigmas.clone()}
    emb = torch.cat([npe, pe])
    added = {"text_embeds": torch.cat([nppe, ppe]), "time_ids": add_time_ids.repeat(2, 1)}
    with torch.no_grad():
        for i, t in enumerate(sch.timesteps):
            inp = sch.scale_model_input(torch.cat([lat] * 2), t)
            nu, nt = unet(inp, t, encoder_hidden_states=emb, added_cond_kwargs=added).sample.chunk(2)
            guided = nu + guidance * (nt - nu)
            lat = sch.step(guided, t, lat).prev_sample
            rec.update({f"step{i}_model_input": inp, f"step{i}_noise_uncond": nu, f"step{i}_noise_text": nt,
                        f"step{i}_guided": guided, f"step{i}_latents_out": lat})
        image = vae.decode(lat / vae.config.scaling_factor).sample
    rec.update({"final_latents": lat, "image_raw": image, "image_01": (image / 2 + 0.5).clamp(0, 1)})
    p = StableDiffusionXLPipeline(vae=vae, text_encoder=pipe.text_encoder, text_encoder_2=pipe.text_encoder_2,
                                  tokenizer=pipe.tokenizer, tokenizer_2=pipe.tokenizer_2, unet=unet,
                                  scheduler=EulerDiscreteScheduler(**SDXL_SCHED), force_zeros_for_empty_prompt=True,
                                  add_watermarker=False)
    p.set_progress_bar_config(disable=True)
    with torch.no_grad():
        out = p(prompt=prompt, num_inference_steps=steps, guidance_scale=guidance, height=size, width=size,
                output_type="pt", generator=torch.Generator().manual_seed(seed)).images
    diff = float((out - rec["image_01"]).abs().max())
    assert diff == 0.0, f"the manual loop differs from StableDiffusionXLPipeline by {diff}"
    name = f"loop_euler_cfg{guidance:g}"
    save(os.path.join(set_dir, f"{name}.safetensors"), rec,
         {**META, "prompt": prompt, "negative_prompt": "", "negative_prompt_is_none": "True"})
    return {f"{name}_pipeline_image01_maxabs_diff": diff, f"{name}_timesteps": sch.timesteps.tolist()}


def make_sdxl_set(name, dtype, seed):
    from transformers import CLIPTokenizer
    from diffusers import StableDiffusionXLPipeline, EulerDiscreteScheduler
    set_dir, work = os.path.join(OUT, name), os.path.join(WORK, name)
    for d in (set_dir, work):
        if os.path.isdir(d): shutil.rmtree(d)
        os.makedirs(d)
    hidden, proj = 64, 32  # CLIP's 64 channels per head; a projection narrower than the tower shows a missing transpose
    clip = dict(vocab_size=1000, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=hidden // 64, max_position_embeddings=77, layer_norm_eps=1e-5, projection_dim=proj,
                bos_token_id=998, eos_token_id=999)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**clip, hidden_act="quick_gelu", pad_token_id=999)).eval()  # ViT-L
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**clip, hidden_act="gelu", pad_token_id=0)).eval()
    torch.manual_seed(seed + 2)  # gen_sdxl.py's tiny SDXL UNet at 32 channels, conditioned on both encoders (64 + 64)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 2), use_linear_projection=True, transformer_layers_per_block=(1, 2),
        cross_attention_dim=2 * hidden, addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + proj, norm_num_groups=32).eval()
    torch.manual_seed(seed + 3)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 32), layers_per_block=1,
                        latent_channels=4, norm_num_groups=32, sample_size=16, scaling_factor=0.13025,
                        force_upcast=True).eval()
    models = {"text_encoder": text_encoder, "text_encoder_2": text_encoder_2, "unet": unet, "vae": vae}
    for i, (comp, m) in enumerate(models.items()):
        perturb_constant_params(m, seed + 10 + i)
        m.to(dtype)
        m.save_pretrained(os.path.join(work, comp), safe_serialization=True)
        m.float()

    # the single file (scripts/convert_diffusers_to_original_sdxl.py, generalised to any block count)
    sd = {c: {k: v.to(dtype) if v.is_floating_point() else v for k, v in m.state_dict().items()} for c, m in models.items()}
    P2 = "conditioner.embedders.1.model."
    ldm = {**unet_to_ldm(sd["unet"], unet.config), **vae_to_ldm(sd["vae"], vae.config),
           **{"conditioner.embedders.0.transformer." + k: v for k, v in sd["text_encoder"].items()},
           **openclip_tower(sd["text_encoder_2"], clip["num_hidden_layers"], P2)}
    # OpenCLIP applies x @ text_projection, [width, projection]: the transpose of transformers' Linear weight
    ldm[P2 + "text_projection"] = sd["text_encoder_2"]["text_projection.weight"].T.contiguous()
    ldm[P2 + "logit_scale"] = torch.tensor(4.6052).to(dtype)  # OpenCLIP's contrastive temperature, unused
    ckpt = f"tiny-{name}.safetensors"
    save(os.path.join(set_dir, ckpt), ldm, {"format": "pt", **META})
    with open(os.path.join(set_dir, f"tiny-{name}.yaml"), "w") as f:  # generative-models' sd_xl_base.yaml, cut down
        f.write("model:\n  target: sgm.models.diffusion.DiffusionEngine\n  params:\n    scale_factor: 0.13025\n"
                "    network_config:\n      target: sgm.modules.diffusionmodules.openaimodel.UNetModel\n      params:\n"
                f"        adm_in_channels: {6 * 8 + proj}\n        num_classes: sequential\n"
                "        num_head_channels: 16 # 64 in SDXL\n        use_linear_in_transformer: True\n"
                f"        transformer_depth: [1, 2]\n        context_dim: {2 * hidden}\n")

    # diffusers' own converter (download_from_original_stable_diffusion_ckpt's SDXL branch) must read it back exactly
    back = {k: v for k, v in ldm.items()}
    with PositionIdsLenient():
        check = {"unet": convert_ldm_unet_checkpoint(dict(back), dict(unet.config)),
                 "vae": convert_ldm_vae_checkpoint(dict(back), dict(vae.config)),
                 "text_encoder": convert_ldm_clip_checkpoint(
                     dict(back), text_encoder=CLIPTextModel(text_encoder.config).to(dtype)).state_dict(),
                 "text_encoder_2": convert_open_clip_checkpoint(
                     dict(back), os.path.join(work, "text_encoder_2"), prefix=P2, has_projection=True,
                     projection_dim=proj).state_dict()}
    assert_bit_equal(check, models, dtype)

    # component IO, recorded from the diffusers folders (weights as stored, computed in fp32), as reference/sdxl has it
    ids = torch.tensor(TEXT_IDS)
    ids2 = torch.where(torch.arange(77) > torch.tensor([[1], [9]]), torch.zeros_like(ids), ids)  # pads "!" = 0
    with torch.no_grad():
        for comp, te, x in (("text_encoder", text_encoder, ids), ("text_encoder_2", text_encoder_2, ids2)):
            o = te(x, output_hidden_states=True)
            io = {"input_ids": x, "last_hidden_state": o.last_hidden_state,
                  "hidden_state_penultimate": o.hidden_states[-2]}  # what SDXL conditions on: no final_layer_norm
            if comp == "text_encoder": io["pooler_output"] = o.pooler_output
            else: io["text_embeds"] = o.text_embeds  # text_projection(pooled): SDXL's pooled prompt embedding
            save(os.path.join(set_dir, f"{comp}_io.safetensors"), io)
        g = torch.Generator().manual_seed(seed + 100)
        sample = torch.randn(2, 4, 8, 8, generator=g); ehs = torch.randn(2, 77, 2 * hidden, generator=g)
        text_embeds = torch.randn(2, proj, generator=g)
        time_ids = torch.tensor([[16.0, 16.0, 0.0, 0.0, 16.0, 16.0], [1024.0, 768.0, 32.0, 8.0, 512.0, 640.0]])
        cond = {"text_embeds": text_embeds, "time_ids": time_ids}
        ts = torch.tensor([10, 500])
        save(os.path.join(set_dir, "unet_io.safetensors"), {
            "sample": sample, "timesteps": ts, "encoder_hidden_states": ehs, "text_embeds": text_embeds,
            "time_ids": time_ids, "out": unet(sample, ts, encoder_hidden_states=ehs, added_cond_kwargs=cond).sample,
            "out_t500_scalar": unet(sample, 500, encoder_hidden_states=ehs, added_cond_kwargs=cond).sample})
        g = torch.Generator().manual_seed(seed + 101)
        latents = torch.randn(1, 4, 8, 8, generator=g); image = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
        dist = vae.encode(image).latent_dist
        save(os.path.join(set_dir, "vae_io.safetensors"), {
            "latents": latents, "decoded": vae.decode(latents).sample,
            "enc_image": image, "enc_mean": dist.mean, "enc_logvar": dist.logvar})
    # one sampling loop through StableDiffusionXLPipeline, with reference/sdxl's tiny tokenizers (1,000-id CLIP BPE)
    tok_dir = os.path.join(REPO, "reference", "sdxl")
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
        tokenizer=CLIPTokenizer.from_pretrained(os.path.join(tok_dir, "tokenizer")),
        tokenizer_2=CLIPTokenizer.from_pretrained(os.path.join(tok_dir, "tokenizer_2")), unet=unet,
        scheduler=EulerDiscreteScheduler(**SDXL_SCHED), force_zeros_for_empty_prompt=True, add_watermarker=False)
    loops = sdxl_loop(set_dir, pipe, 4, 5.0, "a photograph of an astronaut riding a horse", 42)
    pin_folders(set_dir, work, tuple(models), ckpt)
    return {"checkpoint": ckpt, "tensors": len(ldm), "bytes": os.path.getsize(os.path.join(set_dir, ckpt)), **loops}


report = {"versions": META,
          "sd1": make_set("sd1", sd2=False, dtype=torch.float16, seed=300),
          "sd2-v": make_set("sd2-v", sd2=True, dtype=torch.float16, seed=400),
          "sdxl": make_sdxl_set("sdxl", dtype=torch.float16, seed=500)}
with open(os.path.join(OUT, "report.json"), "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps(report, indent=1))
