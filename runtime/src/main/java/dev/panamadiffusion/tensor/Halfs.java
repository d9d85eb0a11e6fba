package dev.panamadiffusion.tensor;

/** IEEE binary16 and bfloat16 conversion to and from f32 (round to nearest even). */
public final class Halfs {
    private Halfs() {}

    public static float f16ToF32(short bits) { return Float.float16ToFloat(bits); }

    public static short f32ToF16(float v) { return Float.floatToFloat16(v); }

    public static float bf16ToF32(short bits) { return Float.intBitsToFloat((bits & 0xffff) << 16); }

    public static short f32ToBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40); // quiet NaN, keep sign
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
