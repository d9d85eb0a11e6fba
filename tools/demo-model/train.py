"""Trains the project's demo model (models/pdiff-demo) in Stable Diffusion's own architecture and file layout, with
diffusers 0.27.2 and transformers 4.30.0 (the reference generator's environment, see README.md here):

1. draws the procedural data set (dataset.py; held-out combinations excluded),
2. trains an AutoencoderKL (64x64 RGB -> 4x8x8 latents, 8x as SD; --vae-scale 4 for 4x16x16), then encodes every picture once,
3. trains a UNet2DConditionModel and a CLIPTextModel (real CLIP BPE ids, vocab 49408) together on the cached latents
   with SD's training noise schedule (scaled_linear 0.00085..0.012, 1000 steps, epsilon prediction), 10% of prompts
   empty for classifier-free guidance, a constant learning rate after the warm-up and an exponential moving average
   of both (so the export at step N is what --unet-steps N gives),
4. writes the diffusers folder (save_pretrained; f16 weights) with SD 1.5's PNDM scheduler config.

Deterministic for a seed (fixed step counts, seeded torch and numpy, torch.set_num_threads(2)). Logs to stdout.
Usage: PYTHONPATH=$REFGEN_WORK/pp python3 train.py --work /tmp/demo-train --out models/pdiff-demo
"""
import argparse
import copy
import json
import math
import os
import sys
import time

# on a shared 2-core machine, spinning OpenMP threads wait for each other for seconds when one is descheduled
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402
import export  # noqa: E402

# norm_num_groups 4, not 16: a GroupNorm of one channel per group zeroes a flat colour (the mean of each channel is
# subtracted over the picture), so the VAE could not carry the background's colour at full resolution
# per VAE scale (--vae-scale): 8x as SD (4x8x8 latents) holds large shapes but draws a 17-pixel star as a blob (measured
# on reconstructions: large shapes 98%, small 44%); 4x (4x16x16 latents) holds 82% of all shapes, but its UNets (with
# and without attention at 16x16) did not learn the background colours in 3,000 steps (4-17%), so the shipped model is
# still 8x (see README.md here, "The 4x experiments")
VAES = {8: dict(block_out_channels=(16, 32, 64, 64), norm_num_groups=4, layers_per_block=1, latent_channels=4),
        4: dict(block_out_channels=(16, 32, 64), norm_num_groups=4, layers_per_block=1, latent_channels=4)}
VAE = VAES[8]
OBJECT_WEIGHT, EDGE_WEIGHT = 4.0, 4.0  # see pixel_weights()
VAE_LR = 4e-4   # 1e-3 stalled at L1+L2 ~0.53 with a loss spike by step 300
# per VAE scale, the UNet on its latents. At 16x16 the 8x model's blocks cost 3.7 s/step (batch 48, 2 threads); four
# levels with no attention at full latent resolution cost 0.80 s/step (0.69 for the 8x model at 8x8)
UNETS = {8: dict(block_out_channels=(64, 96, 128), layers_per_block=1, attention_head_dim=4, norm_num_groups=32,
                 down_block_types=("CrossAttnDownBlock2D",) * 2 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 2, sample_size=8),
         4: dict(block_out_channels=(32, 64, 96, 128), layers_per_block=1, attention_head_dim=(1, 4, 4, 4),
                 norm_num_groups=32, down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, sample_size=16)}
UNET = UNETS[8]
TEXT = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4)


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def lr_at(step, total, peak, warmup):
    """Linear warm-up, then cosine decay to 10% at step total (total None: constant after the warm-up)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if total is None:
        return peak
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    imgs = np.empty((n, 64, 64, 3), np.uint8)
    attrs = []
    for i in range(n):
        imgs[i], *a = dataset.sample(rng)
        attrs.append(tuple(a))
    return imgs, attrs


def cached_data(work, n, seed):
    """make_data(n, seed), kept in work/data-SEED-N.npz (drawing 12,000 pictures takes minutes)."""
    cache = os.path.join(work, f"data-{seed}-{n}.npz")
    if os.path.exists(cache):
        data = np.load(cache)
        return data["imgs"], [tuple(x) for x in data["attrs"].tolist()]
    imgs, attrs = make_data(n, seed)
    np.savez(cache, imgs=imgs, attrs=np.array(attrs))
    return imgs, attrs


def to_tensor(imgs):
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1


def new_vae(seed):
    from diffusers import AutoencoderKL
    torch.manual_seed(seed)
    n = len(VAE["block_out_channels"])
    return AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                         sample_size=64, **VAE)


def pixel_weights(x):
    """Loss weight per pixel [b, 1, h, w]: 1 on the background, OBJECT_WEIGHT more on the object (pixels far from the
    border's median colour) and EDGE_WEIGHT more on its edge. With a plain L1+L2 the background (85-97% of the pixels)
    dominates and the VAE learns blobs: at 300 steps of fine-tuning the object weight alone took the measured object
    colour of reconstructions from 57% to 92%."""
    border = torch.cat([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], dim=2).median(dim=2).values
    mask = ((x - border[:, :, None, None]).pow(2).sum(1, keepdim=True).sqrt() > 0.2).float()   # [b, 1, h, w]
    pool = torch.nn.functional.max_pool2d
    edge = pool(mask, 3, 1, 1) + pool(-mask, 3, 1, 1)                                           # dilated - eroded
    return 1 + OBJECT_WEIGHT * mask + EDGE_WEIGHT * edge


def train_vae(vae, imgs, steps, batch, seed, lr, crop=64, name="vae"):
    """Trains on random crop x crop windows (the VAE is convolutional: a 32x32 crop costs a quarter of a picture)."""
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    t0, acc = time.time(), []
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, steps, lr, 100)
        x = to_tensor(imgs[torch.randint(len(imgs), (batch,), generator=g).numpy()])
        w = pixel_weights(x)
        if crop < 64:
            ox, oy = torch.randint(0, 64 - crop + 1, (2,), generator=g).tolist()
            x, w = x[:, :, oy:oy + crop, ox:ox + crop], w[:, :, oy:oy + crop, ox:ox + crop]
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        y = vae.decode(z).sample
        rec = ((y - x).abs() * w).mean() + ((y - x).pow(2) * w).mean()
        kl = post.kl().mean() / (64 * 64 * 3)
        loss = rec + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        acc.append((rec.item(), kl.item()))
        if (step + 1) % 500 == 0 and step + 1 < steps:
            vae.eval()
            log("%s step %d measured on 128 reconstructions: background %.0f%%, object colour %.0f%%, shape %.0f%%"
                % (name, step + 1, *(100 * vae_measure(vae))))
            vae.train()
        if (step + 1) % 50 == 0:
            r, k = np.mean(acc, axis=0)
            log(f"{name} step {step + 1}/{steps} rec(l1+l2) {r:.5f} kl/px {k:.3f} ({(time.time() - t0) / (step + 1):.2f} s/step)")
            acc = []
    return vae


@torch.no_grad()
def encode_all(vae, imgs):
    means, stds = [], []
    for i in range(0, len(imgs), 256):
        d = vae.encode(to_tensor(imgs[i:i + 256])).latent_dist
        means.append(d.mean)
        stds.append(d.std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def vae_report(vae, imgs):
    x = to_tensor(imgs[:256])
    y = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    psnr = 10 * torch.log10(4 / (y - x).pow(2).mean()).item()
    return (y - x).abs().mean().item() * 127.5, psnr


@torch.no_grad()
def vae_measure(vae, n=128, seed=7):
    """The picture measure of DemoModelTest (measure.py) on n reconstructions of pictures of all combinations:
    fractions with the background colour, the object colour and the shape right."""
    import measure
    rng = np.random.default_rng(seed)
    samples = [dataset.sample(rng, dataset.all_combinations()) for _ in range(n)]
    x = to_tensor(np.stack([s[0] for s in samples]))
    y = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    rec = ((y + 1) * 127.5).round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    ok = np.zeros(3)
    for im, (_, colour, shape, background, *_) in zip(rec, samples):
        b, o, s, *_ = measure.measure(im)
        ok += (b == background, o == colour, s == shape)
    return ok / n


class Prompts:
    """Token ids of prompts (CLIPTokenizer of the files written by make_tokenizer.py, padded to 77 as SD does)."""

    def __init__(self, tokenizer_dir):
        sys.path.insert(0, os.environ.get("REFGEN_WORK", "/tmp/refgen"))
        import feas_patches  # noqa: F401  (AddedToken.__str__ without the tokenizers package)
        from transformers import CLIPTokenizer
        self.tok = CLIPTokenizer.from_pretrained(tokenizer_dir)
        self.cache = {}

    def ids(self, text):
        if text not in self.cache:
            self.cache[text] = self.tok(text, padding="max_length", max_length=77, truncation=True).input_ids
        return self.cache[text]


def train_unet(means, stds, attrs, prompts, steps, batch, seed, ckpt_every, export_fn, init=None, offset_noise=0.0,
               lr=1e-3, cosine=False):
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(seed)
    if init:  # go on from an exported model (its EMA weights, a fresh optimiser): for experiments, not the recipe
        unet = UNet2DConditionModel.from_pretrained(os.path.join(init, "unet"), torch_dtype=torch.float32).train()
        text = CLIPTextModel.from_pretrained(os.path.join(init, "text_encoder"), torch_dtype=torch.float32).train()
    else:
        unet = UNet2DConditionModel(cross_attention_dim=TEXT["hidden_size"], **UNET)
        text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu",
                                            bos_token_id=49406, eos_token_id=49407, pad_token_id=1, projection_dim=64, **TEXT))
    noise_sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                num_train_timesteps=1000, prediction_type="epsilon")
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text).eval()
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed + 1)
    rng = np.random.default_rng(seed + 2)
    t0, acc = time.time(), []
    for step in range(steps):
        for grp in opt.param_groups:
            # constant: stopping at N = a run of N steps; --unet-cosine (fine-tuning with --init): cosine to 10%
            grp["lr"] = lr_at(step, steps if cosine else None, lr, 200)
        idx = torch.randint(len(means), (batch,), generator=g)
        lat = (means[idx] + stds[idx] * torch.randn(means[idx].shape, generator=g)) * export.SCALING["factor"]
        texts = ["" if rng.random() < 0.1 else dataset.random_prompt(rng, *attrs[i]) for i in idx.tolist()]
        ids = torch.tensor([prompts.ids(t) for t in texts])
        noise = torch.randn(lat.shape, generator=g)
        if offset_noise:  # a per-picture, per-channel offset, so the model learns to move the mean (the background)
            noise = noise + offset_noise * torch.randn(lat.shape[:2] + (1, 1), generator=g)
        t = torch.randint(0, 1000, (batch,), generator=g)
        noisy = noise_sched.add_noise(lat, noise, t)
        cond = text(ids).last_hidden_state
        loss = (unet(noisy, t, cond).sample - noise).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            for m, e in ((unet, ema_unet), (text, ema_text)):
                for p, q in zip(m.parameters(), e.parameters()):
                    q.mul_(decay).add_(p.detach(), alpha=1 - decay)
        acc.append(loss.item())
        if (step + 1) % 50 == 0:
            log(f"unet step {step + 1}/{steps} loss {np.mean(acc):.5f} ({(time.time() - t0) / (step + 1):.2f} s/step)")
            acc = []
        if (step + 1) % ckpt_every == 0 or step + 1 == steps:
            export_fn(ema_unet, ema_text, step + 1)
    return ema_unet, ema_text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True, help="folder for the data cache, VAE checkpoint and log")
    ap.add_argument("--out", required=True, help="the model folder to write (models/pdiff-demo)")
    ap.add_argument("--tokenizer", default=None, help="folder with make_tokenizer.py's files (default OUT/tokenizer)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vae-scale", type=int, choices=(4, 8), default=8, help="VAE downsampling (8: SD's own)")
    ap.add_argument("--images", type=int, default=12000)
    ap.add_argument("--vae-steps", type=int, default=2400)
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-crop-steps", type=int, default=0)
    ap.add_argument("--vae-crop-batch", type=int, default=32)
    ap.add_argument("--unet-steps", type=int, default=2000)
    ap.add_argument("--unet-batch", type=int, default=48)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--offset-noise", type=float, default=0.0, help="offset noise scale (0: plain SD training noise)")
    ap.add_argument("--init", default=None, help="start the UNet and text encoder from this model folder, and take its VAE"
                    " (the UNet's latents) and scaling_factor")
    ap.add_argument("--unet-lr", type=float, default=1e-3)
    ap.add_argument("--unet-cosine", action="store_true", help="cosine decay of the UNet learning rate to 10%% at the end")
    a = ap.parse_args()
    global VAE, UNET
    VAE, UNET = VAES[a.vae_scale], UNETS[a.vae_scale]
    torch.set_num_threads(2)
    os.makedirs(a.work, exist_ok=True)
    tok_dir = a.tokenizer or os.path.join(a.out, "tokenizer")
    t_start = time.time()
    from diffusers import AutoencoderKL
    log("config", json.dumps(dict(seed=a.seed, vae_scale=a.vae_scale, vae=VAE, unet=UNET, text=TEXT, images=a.images, vae_steps=a.vae_steps,
                                  unet_steps=a.unet_steps)))
    imgs, attrs = cached_data(a.work, a.images, a.seed)
    if a.init and not os.path.exists(os.path.join(a.work, "vae", "config.json")):
        # the model's own VAE (f16 weights, computed in f32): its latents are the ones the UNet was trained on
        AutoencoderKL.from_pretrained(os.path.join(a.init, "vae"), torch_dtype=torch.float32).save_pretrained(
            os.path.join(a.work, "vae"))
    log(f"{len(imgs)} training pictures of {len(dataset.TRAIN_COMBOS)} combinations ({len(dataset.HELD_OUT)} held out)")
    # stage 1: whole pictures; stage 2: 32x32 crops, 4x the pictures per second (both cached in --work)
    for stage, (path, steps, batch, lr, crop) in enumerate([
            (os.path.join(a.work, "vae"), a.vae_steps, a.vae_batch, VAE_LR, 64),
            (os.path.join(a.work, "vae-crops"), a.vae_crop_steps, a.vae_crop_batch, VAE_LR / 2, 32)]):
        if os.path.exists(os.path.join(path, "config.json")):
            vae = AutoencoderKL.from_pretrained(path)
            log("loaded the trained VAE from", path)
            continue
        vae = train_vae(new_vae(a.seed) if stage == 0 else vae.train(), imgs, steps, batch, a.seed + 10 * stage, lr, crop,
                        "vae" if stage == 0 else "vae-crops")
        vae.save_pretrained(path)
        mae, psnr = vae_report(vae.eval(), imgs)
        log(f"vae stage {stage + 1} reconstruction (256 pictures, posterior mean): mean |error| {mae:.2f}/255, PSNR {psnr:.2f} dB")
        log("vae stage %d measured on 128 reconstructions: background %.0f%%, object colour %.0f%%, shape %.0f%%"
            % (stage + 1, *(100 * vae_measure(vae))))
    vae.eval()
    mae, psnr = vae_report(vae, imgs)
    log(f"vae reconstruction (256 pictures, posterior mean): mean |error| {mae:.2f}/255, PSNR {psnr:.2f} dB")
    means, stds = encode_all(vae, imgs)
    export.SCALING["factor"] = round(1.0 / (means + stds * torch.randn_like(means)).std().item(), 5)
    if a.init:  # keep the scale the UNet was trained with
        with open(os.path.join(a.init, "vae", "config.json")) as f:
            export.SCALING["factor"] = json.load(f)["scaling_factor"]
    log(f"cached {len(means)} latents {tuple(means.shape[1:])}; scaling_factor {export.SCALING['factor']}")
    prompts = Prompts(tok_dir)

    def export_fn(unet, text, step):
        export.write_model(a.out, vae, unet, text)
        log(f"exported step {step} to {a.out} ({(time.time() - t_start) / 60:.1f} min since start)")

    train_unet(means, stds, attrs, prompts, a.unet_steps, a.unet_batch, a.seed, a.ckpt_every, export_fn, a.init, a.offset_noise,
               a.unet_lr, a.unet_cosine)
    log(f"done in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
