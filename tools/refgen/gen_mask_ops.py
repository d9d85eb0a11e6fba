"""Reference set reference/mask_ops/: what Pillow (PIL 9.4) and diffusers 0.27.2's VaeImageProcessor make of small
pictures in the steps behind inpainting's mask blur and padding_mask_crop, for MaskOpsTest to match byte for byte:
PIL's GaussianBlur (ImageFilter.GaussianBlur, VaeImageProcessor.blur), Image.resize with LANCZOS (with boxes, empty ones
included, as _resize_and_fill uses them), VaeImageProcessor._resize_and_fill / _resize_and_crop / get_crop_region /
apply_overlay. No model is involved.

    PYTHONPATH=$REFGEN_WORK/pp /usr/bin/python3 tools/refgen/gen_mask_ops.py [--out reference/mask_ops]

Writes pil_ops.safetensors, every tensor I32 (pictures [H, W], each value a pixel 0xRRGGBB):
  picture, picture_tall, mask (a soft mask), overlay_init, overlay_image (the inputs, seeded numpy);
  blur_<i> with blur_radius [n] (radius i): picture.filter(GaussianBlur(radius));
  resize_<i> with resize_args [n, 6] (width, height and the box times 4, as integers: box / 4): picture.resize(...);
  fill_<i> / crop_<i> with fill_args / crop_args [n, 3] (source 0 = picture, 1 = picture_tall; width; height);
  crop_region [n, 8]: (mask 0 = mask, 1 = picture; width, height, pad) then get_crop_region's (x1, y1, x2, y2);
  overlay_<i> with overlay_args [n, 4] (the crop box, or -1s for none): apply_overlay(mask, overlay_init, generated)
  where generated is overlay_image (16x16) resized ("default", LANCZOS) to the box's aspect as the pipeline's output;
  a1111_fill_<i> with a1111_fill_args [n, 2] (picture: 0 = fill_picture 24x20, 1 = overlay_init; mask: fill_mask_<j>):
  AUTOMATIC1111's masking.fill (inpainting_fill 0), copied in this script as a1111_fill.
"""
import argparse, os, sys

import numpy as np
import PIL.Image
import torch
from PIL import ImageFilter, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_writer  # noqa: E402
from diffusers.image_processor import VaeImageProcessor  # noqa: E402
import diffusers  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "reference", "mask_ops"))
OUT = os.path.abspath(ap.parse_args().out)
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(12)
t = {}


def pic(a):
    return PIL.Image.fromarray(a.astype(np.uint8), "RGB")


def arr(im):
    a = np.asarray(im.convert("RGB")).astype(np.int32)
    return torch.tensor(a[..., 0] << 16 | a[..., 1] << 8 | a[..., 2])  # [H, W]: one pixel 0xRRGGBB per value


picture = pic(rng.randint(0, 256, (7, 9, 3)))
tall = pic(rng.randint(0, 256, (12, 5, 3)))
m = np.zeros((16, 16), np.uint8); m[5:9, 3:12] = 255; m[9:11, 6:8] = 128
mask = pic(np.stack([m] * 3, -1)).filter(ImageFilter.GaussianBlur(1.5))
overlay_init = pic(rng.randint(0, 256, (16, 16, 3)))
overlay_image = pic(rng.randint(0, 256, (16, 16, 3)))
t.update(picture=arr(picture), picture_tall=arr(tall), mask=arr(mask), overlay_init=arr(overlay_init),
         overlay_image=arr(overlay_image))

radii = [0.5, 1, 1.5, 2, 3, 4, 9]
t["blur_radius"] = torch.tensor([int(r * 4) for r in radii], dtype=torch.int32)
for i, r in enumerate(radii):
    t[f"blur_{i}"] = arr(picture.filter(ImageFilter.GaussianBlur(r)))

resizes = [(16, 16, None), (4, 3, None), (3, 10, None), (9, 2, None), (20, 7, None), (6, 6, (2.5, 1, 8, 6.25)),
           (9, 3, (0, 0, 9, 0)), (9, 2, (0, 7, 9, 7)), (3, 7, (0, 0, 0, 7)), (2, 7, (9, 0, 9, 7)), (5, 4, (1, 2, 6, 6)),
           (9, 7, (0, 0, 9, 7))]
t["resize_args"] = torch.tensor([[w, h] + [int(v * 4) for v in (b or (0, 0, 9, 7))] for w, h, b in resizes],
                                dtype=torch.int32)
for i, (w, h, b) in enumerate(resizes):
    t[f"resize_{i}"] = arr(picture.resize((w, h), PIL.Image.LANCZOS, box=b))

proc = VaeImageProcessor(vae_scale_factor=8)
modes = [(0, 16, 16), (0, 24, 8), (0, 8, 24), (1, 16, 16), (1, 8, 8), (1, 24, 16), (0, 9, 7)]
t["fill_args"] = torch.tensor(modes, dtype=torch.int32)
t["crop_args"] = torch.tensor(modes, dtype=torch.int32)
for i, (src, w, h) in enumerate(modes):
    im = picture if src == 0 else tall
    t[f"fill_{i}"] = arr(proc._resize_and_fill(im, w, h))
    t[f"crop_{i}"] = arr(proc._resize_and_crop(im, w, h))

regions = []
for src, w, h, pad in [(0, 16, 16, 0), (0, 16, 16, 2), (0, 16, 16, 32), (0, 24, 8, 1), (0, 8, 24, 1), (0, 16, 8, 0),
                       (0, 8, 16, 3), (1, 16, 16, 0), (1, 24, 16, 1)]:
    mk = mask if src == 0 else picture
    regions.append([src, w, h, pad] + list(VaeImageProcessor.get_crop_region(mk, w, h, pad=pad)))
t["crop_region"] = torch.tensor(regions, dtype=torch.int32)

boxes = [None, (2, 3, 14, 13), (0, 4, 16, 12), (4, 0, 12, 16), (1, 1, 12, 12)]
t["overlay_args"] = torch.tensor([list(b or (-1, -1, -1, -1)) for b in boxes], dtype=torch.int32)
for i, b in enumerate(boxes):
    t[f"overlay_{i}"] = arr(proc.apply_overlay(mask, overlay_init, overlay_image, b))



def a1111_fill(image, mask):
    """AUTOMATIC1111's modules/masking.py fill(): its inpainting_fill 0 ("fill"), as written there."""
    image_mod = PIL.Image.new("RGBA", (image.width, image.height))
    image_masked = PIL.Image.new("RGBa", (image.width, image.height))
    image_masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    image_masked = image_masked.convert("RGBa")
    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        blurred = image_masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            image_mod.alpha_composite(blurred)
    return image_mod.convert("RGB")


# a1111_fill_<i> with a1111_fill_args [n, 2] (picture 0 = fill_picture, 1 = overlay_init; mask index into fill_mask_<j>)
fill_picture = pic(rng.randint(0, 256, (20, 24, 3)))
hard = np.zeros((20, 24), np.uint8); hard[4:12, 6:15] = 255
soft = pic(np.stack([hard] * 3, -1)).filter(ImageFilter.GaussianBlur(2))
rim = np.full((16, 16), 255, np.uint8); rim[0, :] = 0                       # all masked but one row
colour = pic(rng.randint(0, 256, (16, 16, 3)))                               # a colour mask: its grey counts
fill_masks = [pic(np.stack([hard] * 3, -1)), soft, pic(np.stack([rim] * 3, -1)), colour,
              pic(np.full((16, 16, 3), 255, np.uint8))]                      # the last: everything masked
for j, fm in enumerate(fill_masks):
    t[f"fill_mask_{j}"] = arr(fm)
t["fill_picture"] = arr(fill_picture)
fills = [(0, 0), (0, 1), (1, 2), (1, 3), (1, 4)]
t["a1111_fill_args"] = torch.tensor(fills, dtype=torch.int32)
for i, (src, j) in enumerate(fills):
    t[f"a1111_fill_{i}"] = arr(a1111_fill(fill_picture if src == 0 else overlay_init, fill_masks[j]))

meta = {"pillow": PIL.__version__, "diffusers": diffusers.__version__, "generator": "tools/refgen/gen_mask_ops.py"}
safetensors_writer.write(f"{OUT}/pil_ops.safetensors", t, meta, dtypes={torch.int32: "I32"})
print(f"wrote {OUT}/pil_ops.safetensors: {len(t)} tensors")
