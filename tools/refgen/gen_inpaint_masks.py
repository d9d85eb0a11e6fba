"""The mask-blur and padding_mask_crop runs of gen_inpaint.py (4-channel UNet, reference/inpaint) and gen_inpaint9.py
(9-channel, reference/inpaint9): diffusers 0.27.2's StableDiffusionInpaintPipeline given
mask = pipe.mask_processor.blur(mask, blur_factor) (PIL's GaussianBlur) and/or padding_mask_crop, recorded as those
generators record their runs, plus what verify needs to replay them:

  mask_blur (F32, 0 for none), mask_crop_padding (I64, -1 for none), and with a crop: crop_box [4] (get_crop_region's
  x1, y1, x2, y2), image_01 (the decoded picture before apply_overlay) and image_overlay [B, H, W, 3] (I64 0..255, the
  PIL picture the pipeline returns). init_image, mask, mask_latents are the ones the run sees (cropped and resized,
  resize_mode "fill", when cropping). Named inpaint_<scheduler>_s<strength>[_b<n>][_blur<f>][_crop<p>].safetensors.

A crop needs output_type="pil", so every mask run is recorded in one call: the last callback's latents are
final_latents, and image_01 is postprocess's output for the decoded picture (wrapped to see it) before the overlay.
Not run on its own: the two generators import it after their own sets, which stay byte-identical.
"""
import numpy as np
import torch
from diffusers import StableDiffusionInpaintPipeline


class MaskSets:
    def __init__(self, out, g, init, mask, report, prompt, neg, ninechannel):
        self.out, self.g, self.init, self.mask, self.report = out, g, init, mask, report
        self.prompt, self.neg, self.nine = prompt, neg, ninechannel

    def record(self, sname, steps, strength, seed, blur, pad, unet, batch=1):
        g = self.g
        sch = g["SCHEDULERS"][sname]()
        sch.save_config(f"{self.out}/scheduler_{sname}")
        pipe = StableDiffusionInpaintPipeline(vae=g["vae"], text_encoder=g["text_encoder"], tokenizer=g["tok"], unet=unet,
                                              scheduler=sch, safety_checker=None, feature_extractor=None,
                                              requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        mask = pipe.mask_processor.blur(self.mask, blur_factor=blur) if blur else self.mask
        crop = pipe.mask_processor.get_crop_region(mask, 16, 16, pad=pad) if pad is not None else None
        mode = "fill" if crop is not None else "default"
        rec = {"init_image": pipe.image_processor.preprocess(self.init, height=16, width=16, crops_coords=crop, resize_mode=mode),
               "noise_seed": torch.tensor(seed), "strength": torch.tensor(float(strength)),
               "num_inference_steps": torch.tensor(steps), "cond_emb": g["embed"]([self.prompt]),
               "uncond_emb": g["embed"]([self.neg]), "guidance_scale": torch.tensor(7.5),
               "mask_blur": torch.tensor(float(blur)), "mask_crop_padding": torch.tensor(-1 if pad is None else pad)}
        mc = pipe.mask_processor.preprocess(mask, height=16, width=16, crops_coords=crop, resize_mode=mode)
        rec["mask"] = mc
        rec["mask_latents"] = torch.nn.functional.interpolate(mc, size=(8, 8))
        if crop is not None: rec["crop_box"] = torch.tensor(list(crop))
        calls, seen = [], {}

        def hook(module, inputs, output):
            calls.append((inputs[0].clone(), output[0].clone()))
        handle = unet.register_forward_hook(hook) if self.nine else None

        def cb(p, i, t, kw):
            if self.nine:
                x, out = calls[i]
                u, c = out.chunk(2)
                rec[f"step{i}_model_input"] = x
                rec[f"step{i}_noise_uncond"], rec[f"step{i}_noise_text"] = u, c
                rec[f"step{i}_guided"] = u + 7.5 * (c - u)
                if i == 0: rec["masked_image_latents"] = kw["masked_image_latents"][:batch].clone()
            rec[f"step{i}_latents_out"] = kw["latents"].clone()
            seen["latents"] = kw["latents"].clone()
            return kw
        post = pipe.image_processor.postprocess

        def postprocess(image, output_type="pil", do_denormalize=None):
            seen["image_01"] = post(image, output_type="pt", do_denormalize=do_denormalize)
            return post(image, output_type=output_type, do_denormalize=do_denormalize)
        pipe.image_processor.postprocess = postprocess
        inputs = ["latents", "masked_image_latents"] if self.nine else ["latents"]
        with torch.no_grad():
            images = pipe(prompt=self.prompt, negative_prompt=self.neg, image=self.init, mask_image=mask, strength=strength,
                          height=16, width=16, num_inference_steps=steps, guidance_scale=7.5, num_images_per_prompt=batch,
                          padding_mask_crop=pad, output_type="pil", callback_on_step_end=cb,
                          callback_on_step_end_tensor_inputs=inputs, generator=torch.Generator().manual_seed(seed)).images
        if handle is not None: handle.remove()
        ran = sum(k.endswith("_latents_out") for k in rec)
        rec["timesteps"] = pipe.scheduler.timesteps[len(pipe.scheduler.timesteps) - ran:]
        rec.update({"final_latents": seen["latents"], "image_01": seen["image_01"]})
        if crop is not None:
            rec["image_overlay"] = torch.tensor(np.stack([np.asarray(im.convert("RGB")) for im in images]).astype(np.int64))
        name = (f"inpaint_{sname}_s{strength:g}" + (f"_b{batch}" if batch > 1 else "") + (f"_blur{blur:g}" if blur else "")
                + (f"_crop{pad}" if pad is not None else ""))
        self.report[f"{name}_timesteps"] = rec["timesteps"].tolist()
        if crop is not None: self.report[f"{name}_crop_box"] = list(crop)
        g["save"](f"{self.out}/{name}.safetensors", rec)
