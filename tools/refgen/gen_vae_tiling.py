"""Reference sets for reference/vae_tiling/ (docs/VERIFY.md, "VAE tiling"), recorded with diffusers 0.27.2 /
transformers 4.30.0 on CPU fp32: AutoencoderKL.enable_tiling() decode and encode (tiled_decode / tiled_encode with
blend_v / blend_h), with tile sizes small enough that small latents need several tiles, and the untiled outputs for
contrast.

    PYTHONPATH=$REFGEN_WORK/pp OPENBLAS_CORETYPE=Haswell /usr/bin/python3 tools/refgen/gen_vae_tiling.py \
        [--tiny ../shared/reference/tiny] [--tokenizer ../shared/reference/tokenizer] [--out reference/vae_tiling]

Two sets, neither copying its VAE (components.json points to it and pins its sha256):
  tiny/  the shared tiny VAE (2 blocks: 2x scale, sample_size 16), four cases
  demo/  the demo model's VAE (models/pdiff-demo/vae: 4 blocks, 8x scale, sample_size 64, trained weights), one case
Each vae_tiling_<case>.safetensors holds:
  tile_sample_min_size [], tile_latent_min_size [] (I64), tile_overlap_factor [] (F32): the attributes set on the VAE
  latents [B, 4, h, w]         decoded_tiled = vae.decode(latents).sample with enable_tiling(); decoded = without
  enc_image [B, 3, H, W]       enc_mean_tiled / enc_logvar_tiled = vae.encode(enc_image).latent_dist with tiling;
                               enc_mean / enc_logvar without
report.json lists, per case, the tile grid and the max and mean |tiled - untiled| inside the blend bands and away
from them.
"""
import json, os, sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import strength_helpers  # noqa: E402

OUT, g = strength_helpers.load("gen_vae_tiling.py", "vae_tiling")
save, components_json, META = g["save"], g["components_json"], g["META"]
from diffusers import AutoencoderKL

DEMO = os.path.abspath(os.path.join(HERE, "..", "..", "models", "pdiff-demo"))
report = {"versions": META}


def picture(h, w, batch):
    """A fixed picture in [-1, 1] (no RNG): a diagonal gradient, a bright square and a dark disc, shifted per image."""
    out = []
    for b in range(batch):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        rgb = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin((x + y + 7 * b) / 5.0)], axis=0)
        rgb[:, h // 5: h // 2, w // 2: w * 4 // 5] = np.array([0.95, 0.9, 0.1])[:, None, None]
        disc = (x - w / 3 - b) ** 2 + (y - h * 2 / 3) ** 2 <= (min(h, w) / 5) ** 2
        rgb[:, disc] = np.array([0.1, 0.12, 0.5])[:, None]
        out.append(rgb * 2 - 1)
    return torch.tensor(np.stack(out), dtype=torch.float32)


def bands(n, ov, blend, scale):
    """Output indices inside a blend band: tile k > 0 starts at k * ov latents; its first `blend` outputs blend."""
    idx = set()
    for k in range(1, (n + ov - 1) // ov):
        idx.update(range(k * ov * scale, min(k * ov * scale + blend, n * scale)))
    return sorted(idx)


def seam_stats(tiled, plain, n_h, n_w, ov, blend, scale):
    rows, cols = bands(n_h, ov, blend, scale), bands(n_w, ov, blend, scale)
    d = (tiled - plain).abs()
    mask = torch.zeros(d.shape[-2:], dtype=torch.bool)
    if rows: mask[rows, :] = True
    if cols: mask[:, cols] = True
    near = float(d[..., mask].max()) if mask.any() else 0.0
    far = float(d[..., ~mask].max()) if (~mask).any() else 0.0
    mean_near = float(d[..., mask].mean()) if mask.any() else 0.0
    mean_far = float(d[..., ~mask].mean()) if (~mask).any() else 0.0
    return {"max_abs_tiled_minus_untiled_in_blend_bands": near, "max_abs_elsewhere": far,
            "mean_abs_in_blend_bands": mean_near, "mean_abs_elsewhere": mean_far,
            "blend_band_rows": rows, "blend_band_cols": cols}


def case(vae, set_dir, name, latents, image, ts, tl, f=0.25):
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    with torch.no_grad():
        vae.disable_tiling()
        decoded = vae.decode(latents).sample
        dist = vae.encode(image).latent_dist
        vae.tile_sample_min_size, vae.tile_latent_min_size, vae.tile_overlap_factor = ts, tl, f
        vae.enable_tiling()
        decoded_tiled = vae.decode(latents).sample
        dist_tiled = vae.encode(image).latent_dist
        vae.disable_tiling()
    assert decoded_tiled.shape == decoded.shape, f"{name}: tiled decode is {decoded_tiled.shape}, untiled {decoded.shape}"
    assert dist_tiled.mean.shape == dist.mean.shape, f"{name}: tiled encode is {dist_tiled.mean.shape}"
    h, w = latents.shape[-2:]
    H, W = image.shape[-2:]
    dec_tiles = h > tl or w > tl
    enc_tiles = H > ts or W > ts
    ov_d, be_d = int(tl * (1 - f)), int(ts * f)
    ov_e, be_e = int(ts * (1 - f)), int(tl * f)
    if not dec_tiles: assert torch.equal(decoded_tiled, decoded), f"{name}: fits one tile but differs"
    if not enc_tiles: assert torch.equal(dist_tiled.mean, dist.mean), f"{name}: fits one tile but differs"
    rec = {"tile_sample_min_size": torch.tensor(ts), "tile_latent_min_size": torch.tensor(tl),
           "tile_overlap_factor": torch.tensor(f, dtype=torch.float32),
           "latents": latents, "decoded_tiled": decoded_tiled, "decoded": decoded,
           "enc_image": image, "enc_mean_tiled": dist_tiled.mean, "enc_logvar_tiled": dist_tiled.logvar,
           "enc_mean": dist.mean, "enc_logvar": dist.logvar}
    save(f"{set_dir}/vae_tiling_{name}.safetensors", rec)
    r = {"latents": list(latents.shape), "image": list(image.shape),
         "tile_sample_min_size": ts, "tile_latent_min_size": tl, "tile_overlap_factor": f,
         "decode_tiles": [len(range(0, h, ov_d)), len(range(0, w, ov_d))] if dec_tiles else [1, 1],
         "encode_tiles": [len(range(0, H, ov_e)), len(range(0, W, ov_e))] if enc_tiles else [1, 1]}
    if dec_tiles: r["decode"] = seam_stats(decoded_tiled, decoded, h, w, ov_d, be_d, scale)
    if enc_tiles:
        r["encode_mean"] = seam_stats(dist_tiled.mean, dist.mean, H // scale, W // scale, ov_e // scale, be_e, 1)
    report[f"{os.path.basename(set_dir)}/{name}"] = r


# ---- the shared tiny VAE: scale 2, sample_size 16, so diffusers' own defaults are 16 px / 8 latents ----
tiny_vae = g["vae"]
TINY_SET = f"{OUT}/tiny"
gen = torch.Generator().manual_seed(2024)
# diffusers' defaults for this VAE; a batch of 2, uneven last tiles (20 = 6 + 6 + 6 + 2 latents, 12 = 6 + 6)
case(tiny_vae, TINY_SET, "default", torch.randn((2, 4, 20, 12), generator=gen), picture(40, 24, 2), 16, 8)
# small tiles (8 px / 4 latents: 3-latent steps, 2-pixel blends), odd latent sizes, more tiles than the defaults
case(tiny_vae, TINY_SET, "small", torch.randn((1, 4, 11, 7), generator=gen), picture(22, 14, 1), 8, 4)
# only the width exceeds a tile: the switch takes either side, and rows still step by 6 latents (8 = 6 + 2)
case(tiny_vae, TINY_SET, "wide", torch.randn((1, 4, 8, 19), generator=gen), picture(16, 38, 1), 16, 8)
# no side larger than a tile: diffusers' decode/encode do not switch to tiling (tiled == untiled, bit for bit)
case(tiny_vae, TINY_SET, "fits", torch.randn((1, 4, 8, 6), generator=gen), picture(16, 12, 1), 16, 8)
components_json(TINY_SET, ["vae"])

# ---- the demo model's VAE: scale 8, sample_size 64, diffusers' defaults 64 px / 8 latents ----
demo_vae = AutoencoderKL.from_pretrained(f"{DEMO}/vae").eval()
DEMO_SET = f"{OUT}/demo"
pic = picture(96, 128, 1)
with torch.no_grad():
    z = demo_vae.encode(pic).latent_dist.mean                 # [1, 4, 12, 16]: latents of a real picture
case(demo_vae, DEMO_SET, "default", z, pic, 64, 8)
components_json(DEMO_SET, ["vae"], root=DEMO)

with open(f"{OUT}/report.json", "w") as f:
    json.dump(report, f, indent=1); f.write("\n")
print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk in ("decode_tiles", "encode_tiles")}
                  for k, v in report.items() if k != "versions"}, indent=1))
