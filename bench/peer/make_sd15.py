"""A random-weight Stable Diffusion 1.5 for bench/peer-sdcpp.sh: SD 1.5's configs (UNet 860M, CLIP ViT-L/14 text
tower, the KL-f8 VAE, its PNDM scheduler config), default PyTorch initialisation from a fixed seed, saved as a diffusers
folder (safetensors, f32) with the CLIP tokenizer; the caller converts it to one LDM file with diffusers' own
scripts/convert_diffusers_to_original_stable_diffusion.py. The pictures are noise: only the times and memory matter.

    PYTHONPATH=$REFGEN_WORK/pp /usr/bin/python3 bench/peer/make_sd15.py --out DIR --tokenizer ../shared/reference/tokenizer/hf_clip_tokenizer
"""
import argparse, json, os, shutil

import torch
from transformers import CLIPTextConfig, CLIPTextModel
from diffusers import AutoencoderKL, UNet2DConditionModel

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--tokenizer", required=True, help="a folder with CLIP's vocab.json and merges.txt")
args = ap.parse_args()
out = os.path.abspath(args.out)
torch.manual_seed(0)

unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                            block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
                            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
unet.save_pretrained(os.path.join(out, "unet"), safe_serialization=True)
del unet
vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
                    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                    up_block_types=("UpDecoderBlock2D",) * 4)
vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
del vae
text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                    num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                                    projection_dim=768, bos_token_id=0, eos_token_id=2, pad_token_id=1))
text.save_pretrained(os.path.join(out, "text_encoder"), safe_serialization=True)
del text

tok = os.path.join(out, "tokenizer")
os.makedirs(tok, exist_ok=True)
for f in ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"):
    if os.path.exists(os.path.join(args.tokenizer, f)):
        shutil.copy(os.path.join(args.tokenizer, f), tok)
os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
    json.dump({"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
               "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
               "clip_sample": False}, f, indent=2)
with open(os.path.join(out, "model_index.json"), "w") as f:
    json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.2",
               "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
               "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
               "scheduler": ["diffusers", "PNDMScheduler"], "safety_checker": [None, None],
               "feature_extractor": [None, None], "requires_safety_checker": False}, f, indent=2)
print("wrote", out)
