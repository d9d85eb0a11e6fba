package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.tokenizer.CLIPTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link SdxlConditioning} on the tiny SDXL base and refiner reference models: the constructor's refusals of parts
 * that do not go together (hidden sizes, text_time, 5 or 6 time ids, tokenizer lengths), the refiner reading the
 * prompts with its one text encoder (diffusers' zip: {@code prompt_2} unread), the warnings and out-of-vocabulary
 * errors naming the field they are about.
 */
class SdxlConditioningChecksTest {
    static final Path REF = Path.of(System.getProperty("pd.home", "..")).resolve("reference");
    static final Path BASE = REF.resolve("sdxl"), REFINER = REF.resolve("sdxl-refiner");
    static final Path DEMO = Path.of(System.getProperty("pd.home", "..")).resolve("models/pdiff-demo");
    static CpuBackend backend;
    static CLIPTokenizer tok1, tok2, refinerTok2, fullClip;
    static CLIPTextModel te1;
    static CLIPTextModelWithProjection te2, refinerTe2;
    static UNet2DConditionModel unet, refinerUnet, sdUnet;
    static final String LONG = "a ".repeat(90).strip();

    @BeforeAll
    static void load() {
        backend = new CpuBackend(1);
        Arena arena = Arena.ofAuto();
        tok1 = CLIPTokenizer.load(BASE.resolve("tokenizer"));
        tok2 = CLIPTokenizer.load(BASE.resolve("tokenizer_2"));
        refinerTok2 = CLIPTokenizer.load(REFINER.resolve("tokenizer_2"));
        fullClip = CLIPTokenizer.load(DEMO.resolve("tokenizer")); // CLIP's 49408 ids: bos 49406 is past the tiny encoders' 1000
        te1 = CLIPTextModel.load(BASE.resolve("text_encoder"), backend, arena);
        te2 = CLIPTextModelWithProjection.load(BASE.resolve("text_encoder_2"), backend, arena);
        refinerTe2 = CLIPTextModelWithProjection.load(REFINER.resolve("text_encoder_2"), backend, arena);
        unet = UNet2DConditionModel.load(BASE.resolve("unet"), backend, arena);
        refinerUnet = UNet2DConditionModel.load(REFINER.resolve("unet"), backend, arena);
        sdUnet = UNet2DConditionModel.load(DEMO.resolve("unet"), backend, arena);
    }

    @AfterAll
    static void close() { backend.close(); }

    static SdxlConditioning base(boolean forceZeros) {
        return new SdxlConditioning(backend, tok1, te1, BASE.resolve("tokenizer"), tok2, te2, BASE.resolve("tokenizer_2"), unet, forceZeros);
    }

    static SdxlConditioning refiner() {
        return SdxlConditioning.refiner(backend, refinerTok2, refinerTe2, REFINER.resolve("tokenizer_2"), refinerUnet, false);
    }

    static String refusal(Runnable r) { return assertThrows(IllegalArgumentException.class, r::run).getMessage(); }

    @Test
    void partsThatDoNotGoTogetherAreRefused() {
        // base text encoders 32 + 32 wide, both UNets' cross_attention_dim 64; the refiner's text_encoder_2 is 64 wide
        assertEquals("text_encoder_2's hidden size 32 is not the UNet's cross_attention_dim 64", refusal(() ->
                SdxlConditioning.refiner(backend, tok2, te2, BASE.resolve("tokenizer_2"), refinerUnet, false)));
        assertEquals("the text encoders' hidden sizes 32 + 64 do not add up to the UNet's cross_attention_dim 64", refusal(() ->
                new SdxlConditioning(backend, tok1, te1, BASE, refinerTok2, refinerTe2, REFINER, unet, true)));
        assertEquals("text_encoder_2 is there but the UNet has no addition_embed_type \"text_time\"", refusal(() ->
                new SdxlConditioning(backend, tok1, te1, BASE, tok2, te2, BASE, sdUnet, true)));
        // the base UNet pools 80 - 6 x 8 = 32 wide, the refiner's 72 - 5 x 8 = 32: each takes the other's time ids wrong
        String toRefiner = refusal(() -> new SdxlConditioning(backend, tok1, te1, BASE, tok2, te2, BASE, refinerUnet, true));
        assertTrue(toRefiner.startsWith("text_encoder_2's projection_dim 32 is not the UNet's pooled width 24"), toRefiner);
        assertTrue(toRefiner.endsWith(": the UNet takes the SDXL refiner's 5 time ids (with an aesthetic score);"
                + " model_index.json's requires_aesthetics_score must be true"), toRefiner);
        String toBase = refusal(() -> SdxlConditioning.refiner(backend, refinerTok2, refinerTe2, REFINER, unet, false));
        assertTrue(toBase.startsWith("text_encoder_2's projection_dim 32 is not the UNet's pooled width 40"), toBase);
        assertTrue(toBase.endsWith(": the UNet takes SDXL base's 6 time ids; model_index.json's requires_aesthetics_score"
                + " must be false"), toBase);
    }

    @Test
    void tokenizersOfDifferentLengthsAreRefused(@TempDir Path dir) throws IOException {
        Path shorter = Files.createDirectories(dir.resolve("tokenizer"));
        for (String f : List.of("vocab.json", "merges.txt", "special_tokens_map.json")) {
            Files.copy(BASE.resolve("tokenizer").resolve(f), shorter.resolve(f));
        }
        String config = Files.readString(BASE.resolve("tokenizer/tokenizer_config.json"));
        assertTrue(config.contains("\"model_max_length\": 77"));
        Files.writeString(shorter.resolve("tokenizer_config.json"), config.replace("\"model_max_length\": 77", "\"model_max_length\": 64"));
        CLIPTokenizer t64 = CLIPTokenizer.load(shorter);
        assertEquals(64, t64.maxLength());
        assertEquals("the two tokenizers' lengths differ: 64 and 77", refusal(() ->
                new SdxlConditioning(backend, t64, te1, shorter, tok2, te2, BASE, unet, true)));
    }

    @Test
    void whatEachKindIs() {
        SdxlConditioning b = base(true), r = refiner();
        assertFalse(b.aesthetic());
        assertTrue(r.aesthetic(), "requires_aesthetics_score: 5 time ids");
        assertSame(te1, b.loraTextEncoder());
        assertSame(te2, b.loraTextEncoder2());
        assertNull(r.loraTextEncoder(), "the refiner has no first text encoder");
        assertSame(refinerTe2, r.loraTextEncoder2());
        assertEquals(2, b.maxClipSkip(), "3 layers each: every layer but one");
    }

    @Test
    void concatLastDimNeedsTheSameRows() {
        Tensor a = Tensor.fromFloats(new float[] {1, 2, 3, 4}, 2, 2), b = Tensor.fromFloats(new float[] {5, 6}, 2, 1);
        assertArrayEquals(new float[] {1, 2, 5, 3, 4, 6}, SdxlConditioning.concatLastDim(a, b).toFloatArray());
        assertThrows(IllegalArgumentException.class, () -> SdxlConditioning.concatLastDim(a, Tensor.fromFloats(new float[3], 3, 1)));
    }

    static List<String> warnings(SdxlConditioning c, GenerationRequest r, boolean guided) {
        List<String> w = new ArrayList<>();
        c.encode(r, guided, false, w);
        return w.stream().map(s -> s.substring(0, s.indexOf(" is "))).toList();
    }

    @Test
    void truncationWarningsNameTheirField() {
        GenerationRequest r = GenerationRequest.of("a cat").withNegativePrompt("blurry").withSize(16, 16);
        assertEquals(List.of("the prompt_2"), warnings(base(false), r.withSdxl(SdxlOptions.NONE.withPrompt2(LONG)), false));
        assertEquals(List.of("the negative_prompt_2"),
                warnings(base(false), r.withSdxl(SdxlOptions.NONE.withNegativePrompt2(LONG)), true));
        assertEquals(List.of("the prompt"), warnings(base(false), GenerationRequest.of(LONG).withSize(16, 16), false),
                "one warning per cut text: without prompt_2 the second encoder reads the prompt, already warned about");
        assertEquals(List.of("the prompt", "the prompt_2"),
                warnings(base(false), GenerationRequest.of(LONG).withSize(16, 16).withSdxl(SdxlOptions.NONE.withPrompt2(LONG)), false));
        // the refiner's one encoder reads the prompts themselves, and warns under their names
        assertEquals(List.of("the prompt"), warnings(refiner(), GenerationRequest.of(LONG).withSize(16, 16), false));
        assertEquals(List.of("the negative prompt"), warnings(refiner(), r.withNegativePrompt(LONG), true));
    }

    @Test
    void theRefinerDoesNotReadTheSecondPrompts() {
        GenerationRequest r = GenerationRequest.of("a cat").withNegativePrompt("blurry").withSize(16, 16);
        GenerationRequest second = r.withSdxl(SdxlOptions.NONE.withPrompt2(LONG).withNegativePrompt2(LONG));
        List<String> w = new ArrayList<>();
        UNetConditioning with = refiner().encode(second, true, true, w);
        assertEquals(List.of(), w, "prompt_2 and negative_prompt_2 are not encoded, so not truncated either");
        UNetConditioning without = refiner().encode(r, true, true, new ArrayList<>());
        assertArrayEquals(without.context().toFloatArray(), with.context().toFloatArray());
        assertArrayEquals(without.addEmbeds().toFloatArray(), with.addEmbeds().toFloatArray());
    }

    @Test
    void givenPooledEmbeddingsNeedATextTimeUNet() {
        Tensor embeds = Tensor.fromFloats(new float[77 * 64], 1, 77, 64), pooled = Tensor.fromFloats(new float[32], 1, 32);
        GenerationRequest r = GenerationRequest.of("a cat").withSize(16, 16);
        UNetConditioning plain = UNetConditioning.given(new PipelineInputs(embeds, null, null, null), false, r, sdUnet, false, false);
        assertNull(plain.addEmbeds(), "SD 1.x/2.x: no added conditioning");
        PipelineInputs withPooled = new PipelineInputs(embeds, null, null, null).withPooled(pooled, null);
        assertEquals("pooled prompt embeddings given, but the UNet has no text_time added conditioning",
                refusal(() -> UNetConditioning.given(withPooled, false, r, sdUnet, false, false)));
    }

    static String vocabularyError(SdxlConditioning c, GenerationRequest r, boolean guided) {
        String m = refusal(() -> c.encode(r, guided, false, new ArrayList<>()));
        return m.substring(0, m.indexOf(" has token id"));
    }

    @Test
    void outOfVocabularyErrorsNameTheirField() {
        SdxlConditioning badFirst = new SdxlConditioning(backend, fullClip, te1, DEMO, tok2, te2, BASE, unet, false);
        SdxlConditioning badSecond = new SdxlConditioning(backend, tok1, te1, BASE, fullClip, te2, DEMO, unet, false);
        SdxlConditioning badRefiner = new SdxlConditioning(backend, null, null, null, fullClip, refinerTe2, DEMO, refinerUnet, false, true);
        GenerationRequest r = GenerationRequest.of("a cat").withNegativePrompt("blurry").withSize(16, 16);
        GenerationRequest second = r.withSdxl(SdxlOptions.NONE.withPrompt2("a dog").withNegativePrompt2("dark"));
        // the negative row is encoded first
        assertEquals("the prompt", vocabularyError(badFirst, r, false));
        assertEquals("the negative prompt", vocabularyError(badFirst, r, true));
        assertEquals("the prompt", vocabularyError(badSecond, r, false));
        assertEquals("the negative prompt", vocabularyError(badSecond, r, true));
        assertEquals("the prompt_2", vocabularyError(badSecond, second, false));
        assertEquals("the negative_prompt_2", vocabularyError(badSecond, second, true));
        assertEquals("the prompt", vocabularyError(badRefiner, second, false), "the refiner reads the prompt");
        assertEquals("the negative prompt", vocabularyError(badRefiner, second, true));
    }
}
