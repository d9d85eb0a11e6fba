package dev.panamadiffusion.io;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of the safetensors parser (Jazzer). Every input is either a valid file, whose tensors then
 * tile the data section exactly, or a {@link SafeTensorsException} naming the file; anything else (a
 * NullPointerException, a StackOverflowError, an out-of-bounds slice) is a finding. A plain build runs the inputs
 * under {@code src/test/resources/dev/panamadiffusion/io/SafeTensorsFuzzTestInputs/}; {@code JAZZER_FUZZ=1} fuzzes.
 */
class SafeTensorsFuzzTest {
    private static final Path FILE = Path.of("fuzz.safetensors");

    /** Arbitrary bytes as a whole file (the 8-byte length prefix included). */
    @DictionaryEntries({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"", "\"BF16\"",
            "\"I64\"", "\"BOOL\"", "\"F8_E4M3\"", "{\"a\":{", "[0,4]", "[]", "9223372036854775807", "-1", "1e400", "null"})
    @FuzzTest(maxDuration = "2m")
    void wholeFile(byte[] bytes) {
        check(bytes);
    }

    /** Arbitrary text as the JSON header behind a correct length prefix, then a data section of fuzzed length. */
    @DictionaryEntries({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"", "\"BF16\"",
            "\"I64\"", "\"BOOL\"", "\"F8_E4M3\"", "{\"a\":{", "[0,4]", "[]", "9223372036854775807", "-1", "1e400", "null"})
    @FuzzTest(maxDuration = "2m")
    void header(FuzzedDataProvider data) {
        int dataLen = data.consumeInt(0, 256);
        byte[] json = data.consumeRemainingAsString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + dataLen).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        check(b.array());
    }

    private static void check(byte[] bytes) {
        SafeTensors st;
        try {
            st = SafeTensors.parse(FILE, MemorySegment.ofArray(bytes));
        } catch (SafeTensorsException e) {
            assertEquals(FILE, e.file());
            assertTrue(e.getMessage().startsWith(FILE + ": "), e.getMessage());
            assertTrue(e.getMessage().lines().count() == 1, "one line: " + e.getMessage());
            return;
        }
        long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        long total = 0;
        for (Map.Entry<String, Tensor> e : st.tensors().entrySet()) {
            Tensor t = e.getValue();
            assertEquals(Tensor.numel(t.shape()) * t.dtype().byteSize(), t.byteSize(), e.getKey());
            total += t.byteSize();
        }
        assertEquals(bytes.length - 8 - headerLen, total, "the tensors tile the data section");
    }
}
