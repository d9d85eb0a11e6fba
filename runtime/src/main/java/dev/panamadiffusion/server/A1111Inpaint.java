package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.pipeline.InpaintFill;
import dev.panamadiffusion.pipeline.MaskOptions;

import java.util.Locale;

/**
 * AUTOMATIC1111's img2img inpainting fields as this runtime's {@link MaskOptions} (diffusers' {@code blur_factor} and
 * {@code padding_mask_crop}, and A1111's masked content): {@code mask_blur} (or {@code mask_blur_x}/{@code mask_blur_y},
 * which must then be equal), {@code inpaint_full_res} (true or 1: "only masked") with {@code inpaint_full_res_padding},
 * and {@code inpainting_fill}: 0 "fill", 1 "original", 2 "latent noise", 3 "latent nothing" ({@link InpaintFill}).
 *
 * <p>Absent fields take A1111's API defaults: {@code mask_blur} 4, {@code inpainting_fill} 0 ("fill"),
 * {@code inpaint_full_res} true ("only masked") with a padding of 0. (A1111's web UI sends other values: a blur of 4,
 * "whole picture", "original" and a padding of 32; clients that copy its payloads send them explicitly.)
 */
final class A1111Inpaint {
    /** A1111's API default padding around the mask for "only masked" (its web UI sends 32). */
    static final int DEFAULT_PADDING = 0;
    /** A1111's API default blur ({@code mask_blur_x} = {@code mask_blur_y} = 4). */
    static final double DEFAULT_BLUR = 4;
    /** A1111's API default masked content: 0, "fill". */
    static final int DEFAULT_FILL = 0;

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
        InpaintFill fill;
        try {
            fill = InpaintFill.ofA1111(f.integer("inpainting_fill", DEFAULT_FILL));
        } catch (IllegalArgumentException e) {
            throw HttpError.badField("inpainting_fill", e.getMessage());
        }
        return new MaskOptions((float) blur, fullRes ? padding : -1, fill);
    }

    /** {@code mask_blur}, else {@code mask_blur_x}/{@code mask_blur_y} (equal), else 4; each in [0, MAX_BLUR]. */
    private static double blur(JsonFields f) {
        for (String name : new String[] {"mask_blur", "mask_blur_x", "mask_blur_y"}) {
            double v = f.number(name, DEFAULT_BLUR);
            if (!(v >= 0 && v <= MaskOptions.MAX_BLUR)) {
                throw HttpError.badField(name, name + " must be in [0, " + MaskOptions.MAX_BLUR + "], got " + num(v));
            }
        }
        if (f.has("mask_blur")) return f.number("mask_blur", DEFAULT_BLUR);  // A1111: mask_blur sets both directions
        double x = f.number("mask_blur_x", DEFAULT_BLUR), y = f.number("mask_blur_y", DEFAULT_BLUR);
        if (x != y) {
            throw HttpError.badField("mask_blur_y", "mask_blur_x (" + num(x) + ") and mask_blur_y (" + num(y) + ") differ:"
                    + " the mask blur is the same in both directions here (diffusers' blur_factor); send mask_blur");
        }
        return x;
    }

    /** {@code inpaint_full_res}: true/false, or A1111's 0 ("whole picture") / 1 ("only masked"); absent: true. */
    private static boolean fullRes(JsonFields f) {
        JsonNode n = f.node("inpaint_full_res");
        if (n == null) return true;
        if (n.isBoolean()) return n.asBoolean();
        if (n.isIntegralNumber() && (n.asLong() == 0 || n.asLong() == 1)) return n.asLong() == 1;
        throw HttpError.badField("inpaint_full_res", "inpaint_full_res must be true/false or 0/1, got " + n);
    }

    private static String num(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? String.valueOf((long) v) : String.format(Locale.ROOT, "%s", v);
    }
}
