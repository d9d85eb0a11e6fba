"""Writes the demo model's diffusers folder: vae/, unet/, text_encoder/ (save_pretrained, f16 safetensors),
scheduler/ (Stable Diffusion 1.5's PNDM config: its training noise schedule), model_index.json. The tokenizer/
files come from make_tokenizer.py and are left as they are."""
import copy
import json
import os

import torch

SCALING = {"factor": 0.18215}   # replaced by train.py with 1 / std of the trained VAE's latents
NAME = "panama-diffusion/pdiff-demo"

# Euler a with SD's training noise schedule. Not SD 1.5's PNDM: with guidance 7.5 PNDM's 4th-order PLMS extrapolation
# drives this small model off its data (measured with evaluate.py at 3,000 UNet steps: colours right 0%, shapes 21%,
# where Euler a gives 96% and 79%).
SCHEDULER = {
    "_class_name": "EulerAncestralDiscreteScheduler", "_diffusers_version": "0.27.2", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "rescale_betas_zero_snr": False, "steps_offset": 1, "timestep_spacing": "leading",
    "trained_betas": None,
    # read by the other schedulers a user may pick (as in SD 1.5's config): DDIM without clipping x0 to [-1, 1]
    # (these latents have std 1, not 0.18) and with SD's final alpha; PNDM as PLMS
    "clip_sample": False, "set_alpha_to_one": False, "skip_prk_steps": True,
}

INDEX = {
    "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.2", "_name_or_path": NAME,
    "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
    "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def write_model(out, vae, unet, text):
    v = copy.deepcopy(vae)
    v.register_to_config(scaling_factor=SCALING["factor"], force_upcast=False, sample_size=64)
    v.half().save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    copy.deepcopy(unet).half().save_pretrained(os.path.join(out, "unet"), safe_serialization=True)
    t = copy.deepcopy(text).half()
    t.config.torch_dtype = "float16"
    t.save_pretrained(os.path.join(out, "text_encoder"), safe_serialization=True)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(INDEX, f, indent=2)
        f.write("\n")


def load_model(folder):
    """The exported modules, as float32 (for checks in Python)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    return (AutoencoderKL.from_pretrained(os.path.join(folder, "vae"), torch_dtype=torch.float32),
            UNet2DConditionModel.from_pretrained(os.path.join(folder, "unet"), torch_dtype=torch.float32),
            CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder"), torch_dtype=torch.float32))
