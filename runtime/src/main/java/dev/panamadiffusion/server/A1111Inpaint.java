package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.pipeline.MaskOptions;

import java.util.Locale;

/**
 * AUTOMATIC1111's img2img inpainting fields as this runtime's {@link MaskOptions} (diffusers' {@code blur_factor} and
 * {@code padding_mask_crop}): {@code mask_blur} (or {@code mask_blur_x}/{@code mask_blur_y}, which must then be
 * equal), {@code inpaint_full_res} (true or 1: "only masked") with {@code inpaint_full_res_padding} (default 0, as
 * A1111's API), and {@code inpainting_fill}, of which 1 ("original": the masked area starts from the picture) is what
 * this runtime does; 0 ("fill"), 2 ("latent noise") and 3 ("latent nothing") are refused by name.
 *
 * <p>Absent fields keep the mask as sent: {@code mask_blur} 0, {@code inpaint_full_res} false, {@code inpainting_fill}
 * 1. A1111's API would default to a blur of 4, "only masked" and "fill" (its web UI sends 4, "whole picture",
 * "original" and a padding of 32), so a client relying on those defaults gets the whole-picture inpainting here.
 */
final class A1111Inpaint {
    /** A1111's API default padding around the mask for "only masked" (its web UI sends 32). */
    static final int DEFAULT_PADDING = 0;

    private A1111Inpaint() {}

    /** The mask options {@code f} asks for (with a mask); every field is checked, a bad one is a 400 naming it. */
    static MaskOptions maskOptions(JsonFields f) {
        double blur = blur(f);
        boolean fullRes = fullRes(f);
        int padding = f.integer("inpaint_full_res_padding", DEFAULT_PADDING);
        if (padding < 0 || padding > MaskOptions.MAX_PADDING) {
            throw HttpError.badField("inpaint_full_res_padding", "inpaint_full_res_padding must be in [0, "
                    + MaskOptions.MAX_PADDING + "], got " + padding);
        }
        int fill = f.integer("inpainting_fill", 1);
        if (fill != 1) {
            String what = switch (fill) {
                case 0 -> "0 (fill: the masked area pre-filled with the picture's colours)";
                case 2 -> "2 (latent noise)";
                case 3 -> "3 (latent nothing)";
                default -> String.valueOf(fill);
            };
            throw HttpError.badField("inpainting_fill", "inpainting_fill " + what + " is not supported: send 1 (original,"
                    + " the masked area starts from the picture, as diffusers' inpainting) or leave it out");
        }
        return new MaskOptions((float) blur, fullRes ? padding : -1);
    }

    /** {@code mask_blur}, else {@code mask_blur_x}/{@code mask_blur_y} (equal), else 0; each in [0, MAX_BLUR]. */
    private static double blur(JsonFields f) {
        for (String name : new String[] {"mask_blur", "mask_blur_x", "mask_blur_y"}) {
            double v = f.number(name, 0);
            if (!(v >= 0 && v <= MaskOptions.MAX_BLUR)) {
                throw HttpError.badField(name, name + " must be in [0, " + MaskOptions.MAX_BLUR + "], got " + num(v));
            }
        }
        if (f.has("mask_blur")) return f.number("mask_blur", 0);  // A1111: mask_blur sets both directions
        double x = f.number("mask_blur_x", 0), y = f.number("mask_blur_y", 0);
        if (f.has("mask_blur_x") && f.has("mask_blur_y") && x != y) {
            throw HttpError.badField("mask_blur_y", "mask_blur_x (" + num(x) + ") and mask_blur_y (" + num(y) + ") differ:"
                    + " the mask blur is the same in both directions here (diffusers' blur_factor); send mask_blur");
        }
        return f.has("mask_blur_x") ? x : y;
    }

    /** {@code inpaint_full_res}: true/false, or A1111's 0 ("whole picture") / 1 ("only masked"). */
    private static boolean fullRes(JsonFields f) {
        JsonNode n = f.node("inpaint_full_res");
        if (n == null) return false;
        if (n.isBoolean()) return n.asBoolean();
        if (n.isIntegralNumber() && (n.asLong() == 0 || n.asLong() == 1)) return n.asLong() == 1;
        throw HttpError.badField("inpaint_full_res", "inpaint_full_res must be true/false or 0/1, got " + n);
    }

    private static String num(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? String.valueOf((long) v) : String.format(Locale.ROOT, "%s", v);
    }
}
