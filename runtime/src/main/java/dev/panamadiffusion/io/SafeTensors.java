package dev.panamadiffusion.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped once; every tensor is a zero-copy slice of the mapping.
 *
 * <p>Everything in the header is validated before any tensor is handed out: the header length, the JSON, dtype
 * names, shapes, that shape × dtype size equals the byte span, that spans lie inside the data section and do not
 * overlap. Problems raise {@link SafeTensorsException} naming the file and tensor.
 */
public final class SafeTensors {
    /** Headers larger than this are rejected (the reference implementation uses 100 MB). */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

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
        MemorySegment mapped;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            mapped = size == 0 ? MemorySegment.NULL.reinterpret(0) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (IOException e) {
            throw new SafeTensorsException(file, null, "cannot read: " + e.getMessage(), e);
        }
        return parse(file, mapped);
    }

    /** Validates and slices an in-memory safetensors image (the bytes of a whole file). */
    public static SafeTensors parse(Path file, MemorySegment bytes) {
        long size = bytes.byteSize();
        if (size < 8) throw new SafeTensorsException(file, null, "file is " + size + " bytes, shorter than the 8-byte header length");
        long headerLen = bytes.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
            throw new SafeTensorsException(file, null, "header length " + Long.toUnsignedString(headerLen)
                    + " is not between 2 and " + MAX_HEADER_BYTES + " bytes");
        }
        if (8 + headerLen > size) {
            throw new SafeTensorsException(file, null, "header length " + headerLen + " runs past the end of the "
                    + size + "-byte file (truncated?)");
        }
        byte[] headerBytes = bytes.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root;
        try {
            root = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(file, null, "header is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw new SafeTensorsException(file, null, "header is not a JSON object");

        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        MemorySegment data = bytes.asSlice(dataStart, dataLen);
        Map<String, String> metadata = new LinkedHashMap<>();
        record Span(String name, long begin, long end) {}
        List<Span> spans = new ArrayList<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();

        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode node = e.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) throw new SafeTensorsException(file, null, "__metadata__ is not an object");
                node.fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw new SafeTensorsException(file, null, "__metadata__ value '" + m.getKey() + "' is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            if (!node.isObject()) throw new SafeTensorsException(file, name, "entry is not an object");
            JsonNode dt = node.get("dtype");
            JsonNode sh = node.get("shape");
            JsonNode off = node.get("data_offsets");
            if (dt == null || !dt.isTextual()) throw new SafeTensorsException(file, name, "missing or non-string dtype");
            DType dtype = DType.fromSafetensors(dt.asText());
            if (dtype == null) throw new SafeTensorsException(file, name, "unsupported dtype '" + dt.asText() + "'");
            if (sh == null || !sh.isArray()) throw new SafeTensorsException(file, name, "missing or non-array shape");
            long[] shape = new long[sh.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = sh.get(i);
                if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                    throw new SafeTensorsException(file, name, "shape " + sh + " has a non-negative-integer dimension");
                }
                shape[i] = d.asLong();
                try {
                    numel = Math.multiplyExact(numel, shape[i]);
                } catch (ArithmeticException ex) {
                    throw new SafeTensorsException(file, name, "shape " + sh + " overflows");
                }
            }
            if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
                    || !off.get(1).isIntegralNumber() || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()) {
                throw new SafeTensorsException(file, name, "data_offsets must be two integers, got " + off);
            }
            long begin = off.get(0).asLong();
            long end = off.get(1).asLong();
            if (begin < 0 || end < begin) throw new SafeTensorsException(file, name, "data_offsets [" + begin + ", " + end + "] are not an ascending pair");
            if (end > dataLen) {
                throw new SafeTensorsException(file, name, "data_offsets [" + begin + ", " + end + "] run past the end of the "
                        + dataLen + "-byte data section (truncated?)");
            }
            long expected;
            try {
                expected = Math.multiplyExact(numel, dtype.byteSize());
            } catch (ArithmeticException ex) {
                throw new SafeTensorsException(file, name, "shape " + sh + " overflows");
            }
            if (end - begin != expected) {
                throw new SafeTensorsException(file, name, "shape " + sh + " of " + dtype.safetensorsName() + " needs " + expected
                        + " bytes but data_offsets [" + begin + ", " + end + "] span " + (end - begin));
            }
            spans.add(new Span(name, begin, end));
            tensors.put(name, Tensor.of(dtype, data.asSlice(begin, end - begin), shape));
        }
        spans.sort(Comparator.comparingLong(Span::begin).thenComparingLong(Span::end));
        for (int i = 1; i < spans.size(); i++) {
            Span a = spans.get(i - 1), b = spans.get(i);
            if (b.begin() < a.end()) {
                throw new SafeTensorsException(file, b.name(), "bytes [" + b.begin() + ", " + b.end() + ") overlap tensor '"
                        + a.name() + "' [" + a.begin() + ", " + a.end() + ")");
            }
        }
        return new SafeTensors(file, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
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
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) header.put("__metadata__", metadata);
        long pos = 0;
        List<Tensor> ordered = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
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
            for (Tensor t : ordered) writeFully(ch, t.segment().asByteBuffer());
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** Convenience: all tensors of a small file copied to the heap-independent auto arena. */
    public static Map<String, Tensor> readAll(Path file) {
        if (!Files.isRegularFile(file)) throw new SafeTensorsException(file, null, "no such file");
        return open(file, Arena.ofAuto()).tensors();
    }
}
