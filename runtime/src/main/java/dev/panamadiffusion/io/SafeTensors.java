package dev.panamadiffusion.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A safetensors file, memory-mapped once; every tensor is a zero-copy slice of the mapping.
 *
 * <p>Everything in the header is validated before any tensor is handed out, as the format's reference
 * implementation does: the header length, UTF-8 and JSON (no duplicate keys), dtype names, shapes, that shape × dtype
 * size equals the byte span, that spans lie inside the data section, and that they tile it exactly (no overlaps, no
 * holes, no trailing bytes). Problems raise {@link SafeTensorsException} naming the file, the tensor and the problem.
 */
public final class SafeTensors {
    /** Headers larger than this are rejected, as by the reference implementation. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** Every dtype name the format defines; those without a {@link DType} are valid but unsupported here. */
    private static final Set<String> FORMAT_DTYPES = Set.of("BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2",
            "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64",
            "F64", "I64", "U64");

    private final Path file;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps {@code file} into {@code arena} (the tensors are valid while the arena is open) and validates it. */
    public static SafeTensors open(Path file, Arena arena) {
        if (Files.isDirectory(file)) throw new SafeTensorsException(file, null, "is a directory, not a safetensors file");
        MemorySegment mapped;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            mapped = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new SafeTensorsException(file, null, "no such file", e);
        } catch (IOException e) {
            throw new SafeTensorsException(file, null, "cannot read: " + e, e);
        }
        return parse(file, mapped);
    }

    /** Validates and slices an in-memory safetensors image (the bytes of a whole file). */
    public static SafeTensors parse(Path file, MemorySegment bytes) {
        long size = bytes.byteSize();
        if (size == 0) throw new SafeTensorsException(file, null, "file is empty");
        if (size < 8) throw new SafeTensorsException(file, null, "file is " + size + " bytes, shorter than the 8-byte header length (truncated?)");
        long headerLen = bytes.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
            throw new SafeTensorsException(file, null, "header length " + Long.toUnsignedString(headerLen)
                    + " is over the " + MAX_HEADER_BYTES + "-byte limit (not a safetensors file?)");
        }
        if (headerLen < 2) throw new SafeTensorsException(file, null, "header length " + headerLen + " is too short for a JSON object");
        if (headerLen > size - 8) {
            throw new SafeTensorsException(file, null, "header length " + headerLen + " runs past the end of the "
                    + size + "-byte file (truncated?)");
        }
        JsonNode root = readHeader(file, bytes.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE));

        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        MemorySegment data = bytes.asSlice(dataStart, dataLen);
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Span> spans = new ArrayList<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();

        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode node = e.getValue();
            if (name.equals("__metadata__")) {
                readMetadata(file, node, metadata);
                continue;
            }
            if (!node.isObject()) throw new SafeTensorsException(file, name, "entry is not an object but " + node.getNodeType());
            DType dtype = readDtype(file, name, node.get("dtype"));
            JsonNode sh = node.get("shape");
            long[] shape = readShape(file, name, sh);
            long numel = 1;
            for (long d : shape) {
                numel = multiply(file, name, numel, d, sh);
            }
            long expected = multiply(file, name, numel, dtype.byteSize(), sh);
            JsonNode off = node.get("data_offsets");
            if (off == null || !off.isArray() || off.size() != 2 || !isLong(off.get(0)) || !isLong(off.get(1))) {
                throw new SafeTensorsException(file, name, "data_offsets must be two integers [begin, end], got " + off);
            }
            long begin = off.get(0).asLong();
            long end = off.get(1).asLong();
            if (begin < 0 || end < 0) throw new SafeTensorsException(file, name, "data_offsets " + off + " are negative");
            if (begin > end) throw new SafeTensorsException(file, name, "data_offsets " + off + ": begin is after end");
            if (end > dataLen) {
                throw new SafeTensorsException(file, name, "data_offsets " + off + " run past the end of the "
                        + dataLen + "-byte data section (truncated?)");
            }
            if (end - begin != expected) {
                throw new SafeTensorsException(file, name, "shape " + sh + " of " + dtype.safetensorsName() + " needs "
                        + expected + " bytes but data_offsets " + off + " span " + (end - begin));
            }
            spans.add(new Span(name, begin, end));
            tensors.put(name, Tensor.of(dtype, data.asSlice(begin, end - begin), shape));
        }
        checkTiling(file, spans, dataLen);
        return new SafeTensors(file, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private record Span(String name, long begin, long end) {}

    private static JsonNode readHeader(Path file, byte[] headerBytes) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SafeTensorsException(file, null, "header is not valid UTF-8 (not a safetensors file?)");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            // a nesting or length limit (StreamConstraintsException) has no location
            String at = e.getLocation() == null ? "" : " (at character " + e.getLocation().getCharOffset() + ")";
            throw new SafeTensorsException(file, null, "header is not valid JSON: "
                    + String.valueOf(e.getOriginalMessage()).strip().replace('\n', ' ') + at, e);
        }
        if (root == null || !root.isObject()) {
            throw new SafeTensorsException(file, null, "header is not a JSON object but "
                    + (root == null || root.isMissingNode() ? "empty" : root.getNodeType()));
        }
        return root;
    }

    /** {@code __metadata__}: a string-to-string object (null is allowed and means none). */
    private static void readMetadata(Path file, JsonNode node, Map<String, String> out) {
        if (node.isNull()) return;
        if (!node.isObject()) throw new SafeTensorsException(file, null, "__metadata__ is not an object but " + node.getNodeType());
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw new SafeTensorsException(file, null, "__metadata__ value '" + m.getKey() + "' is not a string but " + m.getValue());
            }
            out.put(m.getKey(), m.getValue().asText());
        }
    }

    private static DType readDtype(Path file, String name, JsonNode dt) {
        if (dt == null || !dt.isTextual()) throw new SafeTensorsException(file, name, "missing or non-string dtype: " + dt);
        DType dtype = DType.fromSafetensors(dt.asText());
        if (dtype != null) return dtype;
        StringBuilder supported = new StringBuilder();
        for (DType t : DType.values()) supported.append(supported.isEmpty() ? "" : ", ").append(t.safetensorsName());
        String what = FORMAT_DTYPES.contains(dt.asText()) ? "dtype '" + dt.asText() + "' is not supported"
                : "unknown dtype '" + dt.asText() + "'";
        throw new SafeTensorsException(file, name, what + " (this runtime reads " + supported + ")");
    }

    private static long[] readShape(Path file, String name, JsonNode sh) {
        if (sh == null || !sh.isArray()) throw new SafeTensorsException(file, name, "missing or non-array shape: " + sh);
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!isLong(d) || d.asLong() < 0) {
                throw new SafeTensorsException(file, name, "shape " + sh + " has dimension " + d + ": dimensions must be non-negative integers");
            }
            shape[i] = d.asLong();
        }
        return shape;
    }

    private static boolean isLong(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToLong();
    }

    private static long multiply(Path file, String name, long a, long b, JsonNode shape) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException ex) {
            throw new SafeTensorsException(file, name, "shape " + shape + " is too large (its byte size overflows)");
        }
    }

    /** The spans must cover the data section exactly: sorted by offset, each starts where the previous ended. */
    private static void checkTiling(Path file, List<Span> spans, long dataLen) {
        spans.sort(Comparator.comparingLong(Span::begin).thenComparingLong(Span::end));
        long pos = 0;
        Span prev = null;
        for (Span s : spans) {
            if (s.begin() < pos) {
                throw new SafeTensorsException(file, s.name(), "bytes [" + s.begin() + ", " + s.end() + ") overlap tensor '"
                        + prev.name() + "' [" + prev.begin() + ", " + prev.end() + ")");
            }
            if (s.begin() > pos) {
                throw new SafeTensorsException(file, s.name(), "data starts at byte " + s.begin() + " but the previous tensor ends at "
                        + pos + ": the format forbids holes in the data section");
            }
            pos = s.end();
            prev = s;
        }
        if (pos != dataLen) {
            throw new SafeTensorsException(file, null, "the data section has " + dataLen + " bytes but the tensors cover "
                    + pos + ": the format forbids trailing bytes");
        }
    }

    public Path file() { return file; }

    /** Tensors by name, in header order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public Map<String, String> metadata() { return metadata; }

    public boolean contains(String name) { return tensors.containsKey(name); }

    /** The tensor called {@code name}; a missing one is an error naming the file. */
    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new SafeTensorsException(file, name, "no such tensor (the file has " + tensors.size() + ")");
        return t;
    }

    /** Writes host tensors (any dtype, made contiguous) as a safetensors file, keys in the map's order. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        write(file, tensors, metadata, WRITE_CHUNK);
    }

    /** As {@link #write(Path, Map, Map)}, each tensor's bytes written {@code chunk} bytes at a time (tests use small chunks). */
    static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, long chunk) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) header.put("__metadata__", metadata);
        long pos = 0;
        List<Tensor> ordered = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            if (e.getKey().equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' is reserved, not a tensor name");
            if (e.getValue().device() != Device.CPU) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' is on " + e.getValue().device() + ": copy it to the host first");
            }
            Tensor t = e.getValue().contiguous();
            ordered.add(t);
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", t.dtype().safetensorsName());
            entry.put("shape", t.shape());
            entry.put("data_offsets", new long[] {pos, pos + t.byteSize()});
            header.put(e.getKey(), entry);
            pos += t.byteSize();
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = new byte[padded];
        java.util.Arrays.fill(headerBytes, (byte) ' ');
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, padded);
            writeFully(ch, len);
            writeFully(ch, ByteBuffer.wrap(headerBytes));
            for (Tensor t : ordered) {
                MemorySegment seg = t.segment();
                for (long off = 0; off < seg.byteSize(); off += chunk) { // a ByteBuffer holds at most 2 GiB
                    writeFully(ch, seg.asSlice(off, Math.min(chunk, seg.byteSize() - off)).asByteBuffer());
                }
            }
        }
    }

    private static final long WRITE_CHUNK = 1L << 30;

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /**
     * Convenience: all tensors of a file, mapped into an automatic arena (unmapped once they are unreachable); refused
     * as {@link #open} refuses it (a missing file, a directory).
     */
    public static Map<String, Tensor> readAll(Path file) {
        return open(file, Arena.ofAuto()).tensors();
    }
}
