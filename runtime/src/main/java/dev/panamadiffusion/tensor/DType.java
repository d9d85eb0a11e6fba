package dev.panamadiffusion.tensor;

/** Element types a tensor can hold, with their safetensors names and sizes in bytes. */
public enum DType {
    F32("F32", 4),
    F16("F16", 2),
    BF16("BF16", 2),
    F64("F64", 8),
    I64("I64", 8),
    I32("I32", 4);

    private final String safetensorsName;
    private final int byteSize;

    DType(String safetensorsName, int byteSize) {
        this.safetensorsName = safetensorsName;
        this.byteSize = byteSize;
    }

    public String safetensorsName() { return safetensorsName; }

    public int byteSize() { return byteSize; }

    public boolean isFloatingPoint() { return this == F32 || this == F16 || this == BF16 || this == F64; }

    /** The dtype for a safetensors dtype name, or null when this runtime does not read it. */
    public static DType fromSafetensors(String name) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) return t;
        }
        return null;
    }
}
