"""Scores a demo model folder the way DemoModelTest does, in diffusers (the reference implementation), so that a
training run can be judged at every exported step without building the runtime: the same 24 prompts (12 held out),
seeds 1000-1023, 20 steps, guidance 7.5, each picture read by measure.py.

Usage: PYTHONPATH=$REFGEN_WORK/pp python3 evaluate.py MODEL_DIR [SCHEDULER ...] [--steps N] [--grid PNG]
SCHEDULER: pndm (default), ddim, euler, euler_a (the model's own), dpmpp_2m, dpmpp_2m_karras, lms, lcm.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import measure  # noqa: E402

# DemoModelTest.TRAINED: combinations the model was trained on
TRAINED = [("red", "circle", "blue"), ("green", "square", "white"), ("blue", "triangle", "yellow"),
           ("yellow", "star", "black"), ("orange", "circle", "white"), ("purple", "square", "yellow"),
           ("white", "triangle", "red"), ("black", "star", "green"), ("red", "triangle", "white"),
           ("green", "star", "purple"), ("blue", "square", "orange"), ("yellow", "circle", "purple")]
CORNERS = ["in the top left corner", "in the top right corner", "in the bottom left corner", "in the bottom right corner"]


def cases():
    """DemoModelTest.cases(): every other held-out combination and the 12 trained ones, in four phrasings."""
    held = [tuple(l.split()) for l in open(os.path.join(HERE, "heldout.txt")) if l.strip() and not l.startswith("#")]
    out = []
    for i in range(24):
        c = held[i] if i % 2 == 0 else TRAINED[i // 2]
        size = {1: "large", 2: "large", 3: "small"}.get(i % 4)
        pos = {1: "in the center", 2: CORNERS[(i // 4) % 4], 3: CORNERS[(i // 4) % 4]}.get(i % 4)
        import dataset
        out.append((c, i % 2 == 0, dataset.prompt(*c, size, pos), 1000 + i))
    return out


def scheduler(name, config):
    import diffusers as d
    kinds = {"pndm": (d.PNDMScheduler, {}), "ddim": (d.DDIMScheduler, {}), "euler": (d.EulerDiscreteScheduler, {}),
             "euler_a": (d.EulerAncestralDiscreteScheduler, {}), "dpmpp_2m": (d.DPMSolverMultistepScheduler, {}),
             "dpmpp_2m_karras": (d.DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
             "lms": (d.LMSDiscreteScheduler, {}), "lcm": (d.LCMScheduler, {})}
    cls, extra = kinds[name]
    return cls.from_config(config, **extra)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("schedulers", nargs="*", default=["pndm"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--grid", default=None, help="write the 24 pictures as one PNG")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)  # beside a training run, 2 threads thrash
    sys.path.insert(0, os.environ.get("REFGEN_WORK", "/tmp/refgen"))
    import feas_patches  # noqa: F401
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(a.model, torch_dtype=torch.float32, safety_checker=None,
                                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    base = pipe.scheduler.config
    for name in a.schedulers:
        pipe.scheduler = scheduler(name, base)
        cs = cases()
        imgs = []
        for c, held, prompt, seed in cs:
            out = pipe(prompt, height=64, width=64, num_inference_steps=a.steps, guidance_scale=a.guidance,
                       generator=torch.Generator("cpu").manual_seed(seed), output_type="np").images[0]
            imgs.append((out * 255).round().clip(0, 255).astype(np.uint8))
        col = shp = 0
        for (c, held, prompt, seed), img in zip(cs, imgs):
            b, o, s, f, r = measure.measure(img)
            ok_c, ok_s = (b == c[2] and o == c[0]), s == c[1]
            col, shp = col + ok_c, shp + ok_s
            if not a.quiet:
                print(f"  {'ok' if ok_c else 'COL':4s} {'ok' if ok_s else 'SHAPE':5s} {'H' if held else ' '} {prompt:75s}"
                      f" -> {o} {s} on {b} (fill {f:.2f}, bottom/top {r:.2f})")
        print(f"{a.model} {name} {a.steps} steps: colours right {100 * col / 24:.0f}%, shape right {100 * shp / 24:.0f}%",
              flush=True)
        if a.grid:
            from PIL import Image
            g = np.concatenate([np.concatenate(imgs[i * 6:(i + 1) * 6], axis=1) for i in range(4)], axis=0)
            Image.fromarray(g).resize((g.shape[1] * 2, g.shape[0] * 2), Image.NEAREST).save(a.grid)


if __name__ == "__main__":
    main()
