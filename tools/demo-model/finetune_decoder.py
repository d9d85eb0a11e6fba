"""Fine-tunes the demo model's VAE decoder alone, the encoder frozen, so that small shapes survive decoding.

The encoder, and so every latent the UNet was trained on, stays as it is (bit for bit in the exported f16 file): the
UNet and text encoder need no retraining. Only `decoder.*` and `post_quant_conv.*` change. The decoder is trained on
posterior samples of the frozen encoder (as train.py's VAE stage) with train.py's per-pixel weights, each picture's
object weight scaled up when the object is small (a 17-pixel star has a quarter of a large one's pixels, so with
plain weights small shapes carry little of the loss, and the 8x decoder draws them as blobs).

Deterministic for a seed. Usage (environment as train.py's):
    PYTHONPATH=/tmp/refgen/pp python3 tools/demo-model/finetune_decoder.py --model models/pdiff-demo \
        --work /tmp/demo-ft --steps 1500
It reads the VAE from --model and writes it back there (f16, scaling_factor unchanged), logging the picture measure of
reconstructions (by size) before and after.
"""
import argparse
import copy
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # noqa: E402
import measure  # noqa: E402
import train  # noqa: E402

SMALL_BOOST_AREA = 400.0   # object pixels below which the object's weights grow as 400 / area (a large shape has ~600)
SMALL_BOOST_MAX = 3.0


def weights(x):
    """train.pixel_weights, with the object and edge part of each picture scaled by clamp(400 / area, 1, 3)."""
    base = train.pixel_weights(x)                                  # [b, 1, h, w], 1 on the background
    area = (base > 1).float().sum(dim=(1, 2, 3), keepdim=True)     # object + edge pixels
    boost = (SMALL_BOOST_AREA / area.clamp(min=1)).clamp(1.0, SMALL_BOOST_MAX)
    return 1 + (base - 1) * boost


@torch.no_grad()
def measure_by_size(vae, n=256, seed=7):
    """Fractions of n reconstructions (all combinations) with both colours right and with the shape right, per size."""
    rng = np.random.default_rng(seed)
    samples = [dataset.sample(rng, dataset.all_combinations()) for _ in range(n)]
    x = train.to_tensor(np.stack([s[0] for s in samples]))
    y = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    rec = ((y + 1) * 127.5).round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    out = {}
    for im, (_, colour, shape, background, size, _) in zip(rec, samples):
        b, o, s, *_ = measure.measure(im)
        c = out.setdefault(size, np.zeros(3))
        c += (1, b == background and o == colour, s == shape)
    psnr = 10 * torch.log10(4 / (y - x).pow(2).mean()).item()
    return ", ".join(f"{k}: colours {100 * v[1] / v[0]:.0f}%, shape {100 * v[2] / v[0]:.0f}% (of {int(v[0])})"
                     for k, v in sorted(out.items())) + f"; PSNR {psnr:.2f} dB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="the model folder whose vae/ is fine-tuned in place")
    ap.add_argument("--work", required=True, help="cache for the drawn pictures")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--images", type=int, default=12000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--dry-run", action="store_true", help="measure only")
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    from diffusers import AutoencoderKL
    os.makedirs(a.work, exist_ok=True)
    imgs, _ = train.cached_data(a.work, a.images, a.seed)
    train.log(f"{len(imgs)} training pictures")
    vae = AutoencoderKL.from_pretrained(os.path.join(a.model, "vae"), torch_dtype=torch.float32).eval()
    train.log("before:", measure_by_size(vae))
    if a.dry_run:
        return
    trained = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    for p in vae.parameters():
        p.requires_grad_(False)
    for p in trained:
        p.requires_grad_(True)
    vae.decoder.train()
    opt = torch.optim.AdamW(trained, lr=a.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(a.seed + 77)
    t0, acc = time.time(), []
    for step in range(a.steps):
        for grp in opt.param_groups:
            grp["lr"] = train.lr_at(step, a.steps, a.lr, 50)
        x = train.to_tensor(imgs[torch.randint(len(imgs), (a.batch,), generator=g).numpy()])
        w = weights(x)
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        y = vae.decode(z).sample
        loss = ((y - x).abs() * w).mean() + ((y - x).pow(2) * w).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        acc.append(loss.item())
        if (step + 1) % 50 == 0:
            train.log(f"decoder step {step + 1}/{a.steps} weighted l1+l2 {np.mean(acc):.5f} "
                      f"({(time.time() - t0) / (step + 1):.2f} s/step)")
            acc = []
        if (step + 1) % 500 == 0 or step + 1 == a.steps:
            vae.eval()
            train.log(f"step {step + 1}:", measure_by_size(vae))
            vae.decoder.train()
            copy.deepcopy(vae).half().save_pretrained(os.path.join(a.work, f"vae-{step + 1}"), safe_serialization=True)
    vae.eval().half().save_pretrained(os.path.join(a.model, "vae"), safe_serialization=True)
    train.log(f"wrote {a.model}/vae in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
