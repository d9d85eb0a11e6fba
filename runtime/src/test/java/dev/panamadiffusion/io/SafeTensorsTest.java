package dev.panamadiffusion.io;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Damaged files each get a SafeTensorsException naming the file, the tensor (when there is one) and the problem. */
class SafeTensorsTest {
    @TempDir
    Path tmp;

    /** A file: 8-byte little-endian {@code headerLen}, then {@code header} bytes, then {@code dataBytes} bytes 0..n. */
    private Path file(long headerLen, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(header);
        for (int i = 0; i < dataBytes; i++) b.put((byte) i);
        Path p = tmp.resolve("model.safetensors");
        Files.write(p, b.array());
        return p;
    }

    private Path file(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return file(h.length, h, dataBytes);
    }

    private SafeTensorsException fails(Path p, String tensor, String... fragments) {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.open(p, Arena.ofAuto()));
        assertEquals(p, e.file());
        assertEquals(tensor, e.tensor());
        assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
        if (tensor != null) assertTrue(e.getMessage().contains("'" + tensor + "'"), e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
        return e;
    }

    private static String f32(String name, String shape, long begin, long end) {
        return "\"" + name + "\": {\"dtype\": \"F32\", \"shape\": " + shape + ", \"data_offsets\": [" + begin + ", " + end + "]}";
    }

    // ---- the file as a whole ------------------------------------------------------------------------------

    @Test
    void emptyFile() throws IOException {
        Path p = tmp.resolve("empty.safetensors");
        Files.write(p, new byte[0]);
        fails(p, null, "file is empty");
    }

    @Test
    void missingFileAndDirectory() throws IOException {
        fails(tmp.resolve("nope.safetensors"), null, "no such file");
        Path dir = Files.createDirectory(tmp.resolve("dir.safetensors"));
        fails(dir, null, "directory");
        // readAll says the same
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.readAll(tmp.resolve("nope.safetensors")));
        assertEquals(tmp.resolve("nope.safetensors") + ": no such file", e.getMessage());
        e = assertThrows(SafeTensorsException.class, () -> SafeTensors.readAll(dir));
        assertEquals(dir + ": is a directory, not a safetensors file", e.getMessage());
    }

    @Test
    void truncatedBeforeTheHeaderLength() throws IOException {
        Path p = tmp.resolve("short.safetensors");
        Files.write(p, new byte[] {10, 0, 0, 0, 0});
        fails(p, null, "5 bytes", "shorter than the 8-byte header length");
    }

    @Test
    void headerLengthLargerThanTheFile() throws IOException {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        fails(file(1000, h, 10), null, "header length 1000", "runs past the end", "20-byte file");
    }

    @Test
    void absurdHeaderLengths() throws IOException {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        fails(file(1L << 40, h, 0), null, "header length 1099511627776", "limit");
        fails(file(-1L, h, 0), null, "header length 18446744073709551615", "limit"); // read as unsigned
        fails(file(SafeTensors.MAX_HEADER_BYTES + 1, h, 0), null, "limit");
        fails(file(0, new byte[0], 4), null, "header length 0", "too short");
    }

    @Test
    void lengthsAtTheirEdges() throws IOException {
        // an 8-byte file has a header length and nothing else: the header it announces runs past the end
        fails(file(2, new byte[0], 0), null, "header length 2", "runs past the end", "8-byte file");
        // the longest header accepted is MAX_HEADER_BYTES: at that length this file is only too short for it
        fails(file(SafeTensors.MAX_HEADER_BYTES, "{}".getBytes(StandardCharsets.UTF_8), 0), null, "runs past the end");
        // a header length a few bytes past the end
        fails(file(12, "{\"a\": null}".getBytes(StandardCharsets.UTF_8), 0), null, "header length 12", "runs past the end");
        // negative offsets with the span the shape needs
        fails(file("{\"w\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [-2, 0]}}", 0), "w", "negative");
        fails(file("{\"w\": {\"dtype\": \"F16\", \"shape\": [0], \"data_offsets\": [0, -2]}}", 0), "w", "negative");
    }

    @Test
    void dtypeAndShapeOfTheWrongJsonType() throws IOException {
        fails(file("{\"w\": {\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "w", "non-string dtype: 5");
        fails(file("{" + f32("w", "7", 0, 4) + "}", 4), "w", "non-array shape: 7");
        SafeTensors st = SafeTensors.open(file("{" + f32("w", "[1]", 0, 4) + "}", 4), Arena.ofAuto());
        assertTrue(st.contains("w"));
        assertFalse(st.contains("x"));
        assertFalse(st.contains("__metadata__"));
    }

    @Test
    void headerNotUtf8() throws IOException {
        byte[] h = {'{', '"', (byte) 0xff, (byte) 0xfe, '"', ':', '1', '}'};
        fails(file(h.length, h, 0), null, "not valid UTF-8");
    }

    @Test
    void headerNotJson() throws IOException {
        fails(file("{\"a\": {\"dtype\": ", 0), null, "not valid JSON");
        fails(file("hello world!", 0), null, "not valid JSON");
        fails(file("{} {}", 0), null, "not valid JSON"); // trailing content after the object
    }

    @Test
    void headerJsonButNotAnObject() throws IOException {
        fails(file("[1, 2, 3]", 0), null, "not a JSON object", "ARRAY");
        fails(file("\"text\"", 0), null, "not a JSON object", "STRING");
        fails(file("        ", 0), null, "not a JSON object", "empty");
    }

    @Test
    void duplicateKeys() throws IOException {
        fails(file("{" + f32("w", "[1]", 0, 4) + ", " + f32("w", "[1]", 4, 8) + "}", 8), null, "Duplicate", "'w'");
    }

    // ---- one tensor ---------------------------------------------------------------------------------------

    @Test
    void entryNotAnObject() throws IOException {
        fails(file("{\"w\": [1, 2]}", 0), "w", "not an object");
    }

    @Test
    void unknownAndUnsupportedDtypes() throws IOException {
        fails(file("{\"w\": {\"dtype\": \"Q7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "w",
                "unknown dtype 'Q7'", "F32", "BF16");
        SafeTensorsException e = fails(file("{\"w\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4), "w",
                "dtype 'U8' is not supported");
        // the dtypes it reads, as one comma-separated list
        assertTrue(e.getMessage().matches(".*\\(this runtime reads [A-Z0-9]+(, [A-Z0-9]+)+\\)$"), e.getMessage());
        fails(file("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "w", "dtype");
        fails(file("{\"w\": {\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "w", "dtype");
    }

    @Test
    void shapeTimesDtypeSizeMustEqualTheSpan() throws IOException {
        fails(file("{" + f32("w", "[2, 2]", 0, 12) + "}", 12), "w", "[2,2]", "F32", "needs 16 bytes", "span 12");
        fails(file("{\"w\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [0, 12]}}", 12), "w",
                "F16", "needs 6 bytes", "span 12");
        // the span is end - begin, wherever the tensor starts
        fails(file("{" + f32("a", "[1]", 0, 4) + ", " + f32("w", "[2, 2]", 4, 16) + "}", 16), "w", "needs 16 bytes", "span 12");
    }

    @Test
    void badShapes() throws IOException {
        fails(file("{" + f32("w", "[2, -1]", 0, 8) + "}", 8), "w", "dimension -1", "non-negative");
        fails(file("{" + f32("w", "[2.5]", 0, 8) + "}", 8), "w", "dimension 2.5");
        fails(file("{" + f32("w", "[\"2\"]", 0, 8) + "}", 8), "w", "dimension \"2\"");
        fails(file("{" + f32("w", "[99999999999999999999]", 0, 8) + "}", 8), "w", "dimension 99999999999999999999");
        fails(file("{" + f32("w", "7", 0, 8) + "}", 8), "w", "shape");
        fails(file("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4), "w", "shape");
        fails(file("{" + f32("w", "[4611686018427387904, 4]", 0, 8) + "}", 8), "w", "too large");
        fails(file("{" + f32("w", "[4611686018427387904, 1]", 0, 8) + "}", 8), "w", "too large"); // × 4 bytes overflows
    }

    @Test
    void offsetsPastTheEnd() throws IOException {
        fails(file("{" + f32("w", "[4]", 0, 16) + "}", 8), "w", "[0,16]", "past the end", "8-byte data section");
    }

    @Test
    void beginAfterEnd() throws IOException {
        fails(file("{" + f32("w", "[2]", 8, 0) + "}", 8), "w", "begin is after end");
    }

    @Test
    void negativeOrMalformedOffsets() throws IOException {
        fails(file("{" + f32("w", "[0]", -4, -4) + "}", 0), "w", "negative");
        fails(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4), "w", "two integers");
        fails(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.0]}}", 4), "w", "two integers");
        fails(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4), "w", "data_offsets");
    }

    // ---- tensors together ---------------------------------------------------------------------------------

    @Test
    void overlappingSpans() throws IOException {
        SafeTensorsException e = fails(file("{" + f32("a", "[2]", 0, 8) + ", " + f32("b", "[2]", 4, 12) + "}", 12),
                "b", "overlap", "'a'", "[0, 8)", "[4, 12)");
        assertNotNull(e);
        // header order does not matter: the spans are sorted first
        fails(file("{" + f32("b", "[2]", 4, 12) + ", " + f32("a", "[2]", 0, 8) + "}", 12), "b", "overlap", "'a'");
    }

    @Test
    void holesAreForbidden() throws IOException {
        fails(file("{" + f32("a", "[2]", 0, 8) + ", " + f32("b", "[2]", 12, 20) + "}", 20), "b", "byte 12", "ends at 8", "holes");
        fails(file("{" + f32("a", "[1]", 4, 8) + "}", 8), "a", "byte 4", "holes"); // a hole at the start
    }

    @Test
    void trailingBytesAreForbidden() throws IOException {
        fails(file("{" + f32("a", "[2]", 0, 8) + "}", 12), null, "12 bytes", "cover 8", "trailing");
        fails(file("{}", 4), null, "4 bytes", "cover 0", "trailing");
    }

    @Test
    void metadata() throws IOException {
        SafeTensors st = SafeTensors.open(file("{\"__metadata__\": {\"format\": \"pt\", \"v\": \"1\"}, " + f32("w", "[1]", 0, 4) + "}", 4),
                Arena.ofAuto());
        assertEquals(Map.of("format", "pt", "v", "1"), st.metadata());
        assertEquals(List.of("w"), List.copyOf(st.tensors().keySet())); // __metadata__ is no tensor
        assertTrue(SafeTensors.open(file("{\"__metadata__\": null}", 0), Arena.ofAuto()).metadata().isEmpty());
        fails(file("{\"__metadata__\": {\"n\": 3}}", 0), null, "__metadata__", "'n'", "not a string");
        fails(file("{\"__metadata__\": [\"x\"]}", 0), null, "__metadata__", "not an object");
    }

    @Test
    void validEdgeCases() throws IOException {
        // padded header, a scalar, an empty tensor (no bytes), an f16 tensor at an odd offset
        String h = "{" + f32("s", "[]", 0, 4) + ", " + f32("e", "[0, 3]", 4, 4) + ", "
                + "\"h\": {\"dtype\": \"F16\", \"shape\": [1, 3], \"data_offsets\": [4, 10]}}   ";
        SafeTensors st = SafeTensors.open(file(h, 10), Arena.ofAuto());
        assertArrayEquals(new long[0], st.get("s").shape());
        assertEquals(0, st.get("e").numel());
        assertEquals(DType.F16, st.get("h").dtype());
        assertEquals(6, st.get("h").byteSize());
        assertEquals(List.of("s", "e", "h"), List.copyOf(st.tensors().keySet()));
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> st.get("missing"));
        assertEquals("missing", e.tensor());
    }

    @Test
    void everyReferenceFileIsAccepted() throws IOException {
        Path ref = Path.of(System.getProperty("pd.reference"));
        int n = 0;
        try (Stream<Path> files = Files.walk(ref)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".safetensors")).toList()) {
                SafeTensors st = SafeTensors.open(p, Arena.ofAuto());
                assertFalse(st.tensors().isEmpty(), p.toString());
                n++;
            }
        }
        assertTrue(n >= 10, "found only " + n + " reference files");
    }

    // ---- write ----------------------------------------------------------------------------------------------

    @Test
    void writeThenReadRoundTripsEveryDtype() throws IOException {
        float[] v = {0f, 1f, -2.5f, 3.140625f, 65504f, -0.0f};
        Tensor f32 = Tensor.fromFloats(v, 2, 3);
        Tensor f16 = f32.to(DType.F16);
        Tensor bf16 = f32.to(DType.BF16);
        Tensor i64 = Tensor.fromLongs(new long[] {Long.MIN_VALUE, -1, 0, 1, 49407, Long.MAX_VALUE}, 3, 2);
        Tensor permuted = f32.permute(1, 0); // [3, 2], not contiguous: written in its row-major order
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("f32", f32);
        in.put("f16", f16);
        in.put("bf16", bf16);
        in.put("i64", i64);
        in.put("permuted", permuted);
        in.put("scalar", Tensor.fromFloats(new float[] {7f}));
        Path p = tmp.resolve("rt.safetensors");
        SafeTensors.write(p, in, Map.of("format", "pt"));

        long headerLen = ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8, "header padded to 8 bytes so data stays aligned");
        String header = new String(Files.readAllBytes(p), 8, (int) headerLen, StandardCharsets.UTF_8);
        int padding = header.length() - header.stripTrailing().length();
        assertTrue(header.stripTrailing().endsWith("}") && padding < 8, "at most 7 spaces of padding: '" + header + "'");
        SafeTensors st = SafeTensors.open(p, Arena.ofAuto());
        assertEquals(p, st.file());
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertEquals(List.copyOf(in.keySet()), List.copyOf(st.tensors().keySet()));
        for (Map.Entry<String, Tensor> e : in.entrySet()) {
            Tensor got = st.get(e.getKey());
            assertEquals(e.getValue().dtype(), got.dtype(), e.getKey());
            assertArrayEquals(e.getValue().shape(), got.shape(), e.getKey());
        }
        assertArrayEquals(v, st.get("f32").toFloatArray());
        assertArrayEquals(bits(f16), bits(st.get("f16")));
        assertArrayEquals(bits(bf16), bits(st.get("bf16")));
        assertArrayEquals(i64.toLongArray(), st.get("i64").toLongArray());
        assertArrayEquals(new float[] {0f, 3.140625f, 1f, 65504f, -2.5f, -0.0f}, st.get("permuted").toFloatArray());
        assertEquals(7f, st.get("scalar").getFloat(0));
    }

    @Test
    void tensorsLargerThanAWriteChunkAreWrittenWholeChunkByChunk() throws IOException {
        // the real chunk is 1 GiB (a ByteBuffer's limit is 2 GiB); 12 bytes here: 40 bytes in chunks of 12, 12, 12, 4
        float[] v = new float[10];
        for (int i = 0; i < v.length; i++) v[i] = i + 0.5f;
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("a", Tensor.fromFloats(v, 2, 5));
        in.put("b", Tensor.fromFloats(new float[] {7f, 8f, 9f}, 3));
        Path chunked = tmp.resolve("chunked.safetensors"), whole = tmp.resolve("whole.safetensors");
        SafeTensors.write(chunked, in, null, 12);
        SafeTensors.write(whole, in, null);
        assertArrayEquals(Files.readAllBytes(whole), Files.readAllBytes(chunked));
        SafeTensors st = SafeTensors.open(chunked, Arena.ofAuto());
        assertArrayEquals(v, st.get("a").toFloatArray());
        assertArrayEquals(new float[] {7f, 8f, 9f}, st.get("b").toFloatArray());
    }

    @Test
    void writeRefusesADeviceTensorBeforeWritingAnything() {
        // a CUDA tensor holds a device address: its bytes cannot be read here (the segment below is only a stand-in)
        Tensor device = Tensor.of(DType.F32, dev.panamadiffusion.tensor.Device.CUDA, Arena.ofAuto().allocate(8), 2);
        Path p = tmp.resolve("device.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.write(p, Map.of("w", device), null));
        assertEquals("tensor 'w' is on CUDA: copy it to the host first", e.getMessage());
        assertFalse(Files.exists(p), "nothing is written");
    }

    @Test
    void writeRejectsTheReservedName() {
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(tmp.resolve("x.safetensors"),
                Map.of("__metadata__", Tensor.zeros(1)), null));
    }

    private static short[] bits(Tensor half) {
        short[] out = new short[(int) half.numel()];
        for (int i = 0; i < out.length; i++) out[i] = half.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i);
        return out;
    }
}
