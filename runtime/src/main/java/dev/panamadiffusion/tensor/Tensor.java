package dev.panamadiffusion.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * An n-dimensional view over a {@link MemorySegment}: dtype, shape, strides and offset (both in elements).
 *
 * <p>The tensor does not own its memory: the segment belongs to an {@link Arena} (a mapped file, a forward pass,
 * {@code Arena.ofAuto()} for garbage-collected scratch) and is valid as long as that arena is open. Views
 * ({@link #reshape}, {@link #permute}, {@link #slice}, {@link #select}) share the segment. Host tensors
 * ({@link Device#CPU}) can be read from Java; CUDA tensors hold a device address in a zero-length-checked segment
 * and must not be dereferenced on the host.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private final DType dtype;
    private final Device device;
    private final long[] shape;
    private final long[] strides;
    private final long offset;
    private final MemorySegment data;

    private Tensor(DType dtype, Device device, long[] shape, long[] strides, long offset, MemorySegment data) {
        this.dtype = dtype;
        this.device = device;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
        this.data = data;
    }

    // ---- construction -------------------------------------------------------------------------------------

    /** A contiguous tensor over {@code data}, which must hold exactly numel × dtype size bytes. */
    public static Tensor of(DType dtype, MemorySegment data, long... shape) {
        return of(dtype, Device.CPU, data, shape);
    }

    public static Tensor of(DType dtype, Device device, MemorySegment data, long... shape) {
        long[] s = checkShape(shape);
        long need = numel(s) * dtype.byteSize();
        if (data.byteSize() != need) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes for " + dtype + " "
                    + Arrays.toString(s) + " (needs " + need + ")");
        }
        return new Tensor(dtype, device, s, contiguousStrides(s), 0, data);
    }

    /** A zero-filled host tensor in {@code arena}, 64-byte aligned. */
    public static Tensor allocate(Arena arena, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        MemorySegment seg = arena.allocate(Math.max(1, numel(s) * dtype.byteSize()), 64);
        return new Tensor(dtype, Device.CPU, s, contiguousStrides(s), 0, seg.asSlice(0, numel(s) * dtype.byteSize()));
    }

    /** A zero-filled host tensor whose memory the garbage collector frees. */
    public static Tensor allocate(DType dtype, long... shape) {
        return allocate(Arena.ofAuto(), dtype, shape);
    }

    public static Tensor zeros(long... shape) { return allocate(DType.F32, shape); }

    /** A host f32 tensor holding a copy of {@code values}. */
    public static Tensor fromFloats(float[] values, long... shape) {
        long[] s = checkShape(shape);
        if (numel(s) != values.length) {
            throw new IllegalArgumentException(values.length + " values for shape " + Arrays.toString(s));
        }
        Tensor t = allocate(DType.F32, s);
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    /** A host i64 tensor holding a copy of {@code values}. */
    public static Tensor fromLongs(long[] values, long... shape) {
        long[] s = checkShape(shape);
        if (numel(s) != values.length) {
            throw new IllegalArgumentException(values.length + " values for shape " + Arrays.toString(s));
        }
        Tensor t = allocate(DType.I64, s);
        MemorySegment.copy(values, 0, t.data, I64, 0, values.length);
        return t;
    }

    // ---- metadata -----------------------------------------------------------------------------------------

    public DType dtype() { return dtype; }

    public Device device() { return device; }

    public int rank() { return shape.length; }

    public long[] shape() { return shape.clone(); }

    /** Size of dimension {@code d}; negative {@code d} counts from the end. */
    public long dim(int d) { return shape[d < 0 ? shape.length + d : d]; }

    public long[] strides() { return strides.clone(); }

    /** Offset of the first element in the underlying segment, in elements. */
    public long offset() { return offset; }

    public long numel() { return numel(shape); }

    public long byteSize() { return numel() * dtype.byteSize(); }

    public boolean isContiguous() {
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != expected) return false;
            expected *= shape[i];
        }
        return true;
    }

    /** The bytes of a contiguous tensor, from its first element to its last. */
    public MemorySegment segment() {
        if (!isContiguous()) throw new IllegalStateException("tensor " + this + " is not contiguous");
        return data.asSlice(offset * dtype.byteSize(), byteSize());
    }

    /** The whole underlying segment, independent of this view's offset and strides. */
    public MemorySegment storage() { return data; }

    public boolean sameShape(Tensor o) { return Arrays.equals(shape, o.shape); }

    // ---- views --------------------------------------------------------------------------------------------

    /** A view with a new shape (one dimension may be -1); the tensor must be contiguous. */
    public Tensor reshape(long... newShape) {
        long[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException("two -1 dimensions in " + Arrays.toString(newShape));
                infer = i;
            } else {
                known *= s[i];
            }
        }
        if (infer >= 0) {
            if (known == 0 || numel() % known != 0) {
                throw new IllegalArgumentException("cannot reshape " + this + " to " + Arrays.toString(newShape));
            }
            s[infer] = numel() / known;
        }
        checkShape(s);
        if (numel(s) != numel()) {
            throw new IllegalArgumentException("cannot reshape " + this + " to " + Arrays.toString(newShape));
        }
        if (!isContiguous()) throw new IllegalStateException("reshape of non-contiguous " + this);
        return new Tensor(dtype, device, s, contiguousStrides(s), offset, data);
    }

    /** A view with dimensions reordered: result dim i is this tensor's dim {@code order[i]}. */
    public Tensor permute(int... order) {
        if (order.length != shape.length) throw new IllegalArgumentException("permute " + Arrays.toString(order) + " of " + this);
        long[] s = new long[order.length];
        long[] st = new long[order.length];
        boolean[] seen = new boolean[order.length];
        for (int i = 0; i < order.length; i++) {
            int d = order[i];
            if (d < 0 || d >= shape.length || seen[d]) throw new IllegalArgumentException("permute " + Arrays.toString(order));
            seen[d] = true;
            s[i] = shape[d];
            st[i] = strides[d];
        }
        return new Tensor(dtype, device, s, st, offset, data);
    }

    public Tensor transpose(int a, int b) {
        int[] order = new int[shape.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        order[a] = b;
        order[b] = a;
        return permute(order);
    }

    /** A view of indices [start, end) along {@code dim}. */
    public Tensor slice(int dim, long start, long end) {
        if (dim < 0) dim += shape.length;
        if (start < 0 || end > shape[dim] || start > end) {
            throw new IndexOutOfBoundsException("slice [" + start + ", " + end + ") of dim " + dim + " in " + this);
        }
        long[] s = shape.clone();
        s[dim] = end - start;
        return new Tensor(dtype, device, s, strides.clone(), offset + start * strides[dim], data);
    }

    /** A view of index {@code index} along {@code dim}, with that dimension removed. */
    public Tensor select(int dim, long index) {
        if (dim < 0) dim += shape.length;
        if (index < 0 || index >= shape[dim]) throw new IndexOutOfBoundsException("index " + index + " of dim " + dim + " in " + this);
        long[] s = new long[shape.length - 1];
        long[] st = new long[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i == dim) continue;
            s[j] = shape[i];
            st[j++] = strides[i];
        }
        return new Tensor(dtype, device, s, st, offset + index * strides[dim], data);
    }

    // ---- host element access ------------------------------------------------------------------------------

    private long elementOffset(long flat) {
        long off = offset;
        for (int i = shape.length - 1; i >= 0; i--) {
            long idx = flat % shape[i];
            flat /= shape[i];
            off += idx * strides[i];
        }
        return off;
    }

    private void requireHost() {
        if (device != Device.CPU) throw new IllegalStateException("tensor on " + device + " read from the host: " + this);
    }

    /** Element at row-major position {@code flat} of this view, converted to float. */
    public float getFloat(long flat) {
        requireHost();
        long e = elementOffset(flat);
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, e);
            case F16 -> Halfs.f16ToF32(data.getAtIndex(I16, e));
            case BF16 -> Halfs.bf16ToF32(data.getAtIndex(I16, e));
            case F64 -> (float) data.getAtIndex(F64, e);
            case I64 -> data.getAtIndex(I64, e);
            case I32 -> data.getAtIndex(I32, e);
        };
    }

    /** Element at row-major position {@code flat} of this view, converted to long (floats truncate). */
    public long getLong(long flat) {
        requireHost();
        long e = elementOffset(flat);
        return switch (dtype) {
            case I64 -> data.getAtIndex(I64, e);
            case I32 -> data.getAtIndex(I32, e);
            case F64 -> (long) data.getAtIndex(F64, e);
            default -> (long) getFloat(flat);
        };
    }

    /** Element at row-major position {@code flat} as double (exact for f64 and f32). */
    public double getDouble(long flat) {
        requireHost();
        return dtype == DType.F64 ? data.getAtIndex(F64, elementOffset(flat)) : getFloat(flat);
    }

    /** Writes {@code v} at row-major position {@code flat}, converting to this tensor's dtype. */
    public void setFloat(long flat, float v) {
        requireHost();
        long e = elementOffset(flat);
        switch (dtype) {
            case F32 -> data.setAtIndex(F32, e, v);
            case F16 -> data.setAtIndex(I16, e, Halfs.f32ToF16(v));
            case BF16 -> data.setAtIndex(I16, e, Halfs.f32ToBf16(v));
            case F64 -> data.setAtIndex(F64, e, v);
            case I64 -> data.setAtIndex(I64, e, (long) v);
            case I32 -> data.setAtIndex(I32, e, (int) v);
        }
    }

    /** All elements in row-major order as floats (a heap copy: for tests, small tensors and I/O). */
    public float[] toFloatArray() {
        requireHost();
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException("too large for an array: " + this);
        float[] out = new float[(int) n];
        if (dtype == DType.F32 && isContiguous()) {
            MemorySegment.copy(data, F32, offset * 4, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        }
        return out;
    }

    /** All elements in row-major order as longs. */
    public long[] toLongArray() {
        requireHost();
        long[] out = new long[Math.toIntExact(numel())];
        for (int i = 0; i < out.length; i++) out[i] = getLong(i);
        return out;
    }

    /** A contiguous host copy in {@code target} dtype (this tensor itself when nothing would change). */
    public Tensor to(DType target) {
        requireHost();
        if (target == dtype && isContiguous()) return this;
        return to(target, Arena.ofAuto());
    }

    /** A contiguous host copy in {@code target} dtype, always a new tensor, in {@code arena}'s memory. */
    public Tensor to(DType target, Arena arena) {
        requireHost();
        Tensor out = allocate(arena, target, shape);
        if (target == DType.F32 && dtype == DType.F32) {
            // strided f32 copy
            long n = numel();
            for (long i = 0; i < n; i++) out.data.setAtIndex(F32, i, getFloat(i));
            return out;
        }
        long n = numel();
        if (target == DType.I64 || target == DType.I32) {
            for (long i = 0; i < n; i++) out.setFloat(i, getLong(i));
        } else if (dtype == DType.F16 && target == DType.F32 && isContiguous()) {
            long base = offset;
            for (long i = 0; i < n; i++) out.data.setAtIndex(F32, i, Halfs.f16ToF32(data.getAtIndex(I16, base + i)));
        } else {
            for (long i = 0; i < n; i++) out.setFloat(i, getFloat(i));
        }
        return out;
    }

    /** A contiguous copy (or this tensor when it already is contiguous). */
    public Tensor contiguous() { return isContiguous() ? this : to(dtype); }

    @Override
    public String toString() {
        return "Tensor(" + dtype + " " + Arrays.toString(shape) + (device == Device.CPU ? "" : " " + device) + ")";
    }

    // ---- shape helpers ------------------------------------------------------------------------------------

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public static long[] contiguousStrides(long[] shape) {
        long[] st = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            st[i] = s;
            s *= shape[i];
        }
        return st;
    }

    private static long[] checkShape(long[] shape) {
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
        }
        return shape.clone();
    }
}
