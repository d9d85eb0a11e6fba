package dev.panamadiffusion.io;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The structure {@link LdmLayout} reads from an original (LDM) checkpoint's key names and shapes, on the shape maps
 * of reference/single-file's tiny SD 1.x and SD 2.x files, and the one-line refusals for layouts that are not
 * Stable Diffusion 1.x/2.x: each names the file and what is missing or out of range.
 */
class LdmLayoutTest {
    static final Path FILE = Path.of("tiny.safetensors");

    static Map<String, long[]> shapes(String set) {
        Map<String, long[]> s = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : SafeTensors.readAll(LdmCheckpointTest.file(set)).entrySet()) {
            s.put(e.getKey(), e.getValue().shape());
        }
        return s;
    }

    static String refused(String set, Consumer<Map<String, long[]>> edit) {
        Map<String, long[]> s = shapes(set);
        edit.accept(s);
        CheckpointException e = assertThrows(CheckpointException.class, () -> LdmLayout.read(FILE, s));
        assertTrue(e.getMessage().startsWith(FILE.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    static void renamePrefix(Map<String, long[]> s, String from, String to) {
        Map<String, long[]> copy = new LinkedHashMap<>(s);
        s.clear();
        copy.forEach((k, v) -> s.put(k.startsWith(from) ? to + k.substring(from.length()) : k, v));
    }

    @Test
    void familiesAndInpainting() {
        LdmLayout sd1 = LdmLayout.read(FILE, shapes("sd1"));
        assertEquals("SD 1.x", sd1.family());
        assertFalse(sd1.inpainting());
        assertFalse(sd1.openClip());
        assertEquals(sd1.textLayers(), sd1.textBlocksInFile());
        assertTrue(sd1.toString().startsWith("SD 1.x: UNet "), sd1.toString());
        LdmLayout sd2 = LdmLayout.read(FILE, shapes("sd2-v"));
        assertEquals("SD 2.x", sd2.family());
        assertTrue(sd2.openClip());

        // an inpainting UNet takes 9 input channels: latents, the masked image's latents and the mask
        Map<String, long[]> s = shapes("sd1");
        long[] convIn = s.get(LdmLayout.UNET + "input_blocks.0.0.weight").clone();
        convIn[1] = 9;
        s.put(LdmLayout.UNET + "input_blocks.0.0.weight", convIn);
        LdmLayout inpaint = LdmLayout.read(FILE, s);
        assertTrue(inpaint.inpainting());
        assertEquals(9, inpaint.unetIn());
        assertEquals("SD 1.x inpainting", inpaint.family());
    }

    @Test
    void unetLevelsLayersAndAttentionComeFromTheBlocks() {
        LdmLayout l = LdmLayout.read(FILE, shapes("sd1"));
        int n = l.unetChannels().length;
        assertTrue(n >= 2, "levels " + n);
        Map<String, long[]> s = shapes("sd1");
        int inputBlocks = (int) s.keySet().stream().filter(k -> k.startsWith(LdmLayout.UNET + "input_blocks."))
                .map(k -> k.split("\\.")[3]).distinct().count();
        assertEquals(n * (l.unetLayers() + 1), inputBlocks, "each level: L resnets and a downsampler (conv_in first)");
        for (int i = 0; i < n; i++) {
            String resnet = LdmLayout.UNET + "input_blocks." + ((l.unetLayers() + 1) * i + 1) + ".0.out_layers.3.weight";
            assertEquals(s.get(resnet)[0], l.unetChannels()[i], resnet);
            String attention = LdmLayout.UNET + "input_blocks." + ((l.unetLayers() + 1) * i + 1) + ".1.";
            assertEquals(s.keySet().stream().anyMatch(k -> k.startsWith(attention)), l.downAttention()[i], "level " + i);
        }
        assertEquals(s.get(LdmLayout.UNET + "middle_block.1.transformer_blocks.0.attn2.to_k.weight")[1], l.crossAttentionDim());
        assertEquals(s.get(LdmLayout.VAE + "decoder.conv_in.weight")[1], l.latentChannels());
        assertEquals(s.get(LdmLayout.VAE + "encoder.conv_in.weight")[1], l.vaeIn());
    }

    @Test
    void notStableDiffusionLayoutsAreRefused() {
        assertTrue(refused("sd1", s -> s.put("conditioner.embedders.0.transformer.x", new long[] {1})).contains("SDXL"));
        String m = refused("sd1", s -> s.keySet().removeIf(k -> k.startsWith(LdmLayout.UNET)));
        assertTrue(m.contains("no model.diffusion_model.* tensors") && !m.contains("diffusers model folder"), m);
        for (String diffusersKey : new String[] {"conv_in.weight", "encoder.conv_in.weight", "text_model.embeddings.token_embedding.weight"}) {
            m = refused("sd1", s -> {
                s.keySet().removeIf(k -> k.startsWith(LdmLayout.UNET));
                s.put(diffusersKey, new long[] {4, 4, 3, 3});
            });
            assertTrue(m.contains("pass the diffusers model folder instead"), diffusersKey + ": " + m);
        }
        assertTrue(refused("sd1", s -> s.keySet().removeIf(k -> k.startsWith(LdmLayout.VAE))).contains("has no VAE"));
        assertTrue(refused("sd1", s -> s.keySet().removeIf(k -> k.startsWith("cond_stage_model."))).contains("has no text encoder"));
    }

    @Test
    void numberedBlocksMustHaveNoGaps() {
        String m = refused("sd1", s -> s.keySet().removeIf(k -> k.startsWith(LdmLayout.VAE + "encoder.down.0.")));
        assertTrue(m.contains("but no " + LdmLayout.VAE + "encoder.down.0.* tensors"), m);
        // the message names the first missing number, not the last seen
        m = refused("sd1", s -> s.keySet().removeIf(k -> k.startsWith(LdmLayout.UNET + "input_blocks.1.")));
        assertTrue(m.contains("but no " + LdmLayout.UNET + "input_blocks.1.* tensors"), m);
        // keys whose segment after the prefix is not a block number are not blocks
        Map<String, long[]> s = shapes("sd1");
        LdmLayout plain = LdmLayout.read(FILE, s);
        s.put(LdmLayout.VAE + "encoder.down.extra.weight", new long[] {1});
        s.put(LdmLayout.VAE + "encoder.down.12345.weight", new long[] {1});
        s.put(LdmLayout.VAE + "encoder.down.", new long[] {1});
        s.put(LdmLayout.VAE + "encoder.down.7", new long[] {1});
        s.put(LdmLayout.VAE + "encoder.down.ext.weight", new long[] {1});
        assertArrayEquals(plain.vaeChannels(), LdmLayout.read(FILE, s).vaeChannels());
        // up to four digits are a block number, so a block 1000 leaves a gap
        m = refused("sd1", x -> x.put(LdmLayout.VAE + "encoder.down.1000.block.0.conv2.weight", new long[] {32, 32, 3, 3}));
        assertTrue(m.contains("has " + LdmLayout.VAE + "encoder.down.1000.* but no " + LdmLayout.VAE + "encoder.down.2.* tensors"), m);
    }

    @Test
    void aFileWithoutTheUNetNamesItsFirstTensors() {
        String m = refused("sd1", s -> s.keySet().removeIf(k -> k.startsWith(LdmLayout.UNET)));
        // sorted: alphas_cumprod, betas, cond_stage_model...
        assertTrue(m.endsWith("; its first tensors are [alphas_cumprod, betas, " + LdmLayout.CLIP + "text_model.embeddings.position_embedding.weight]"), m);
    }

    @Test
    void inputBlocksMustBeWholeLevels() {
        // two levels of one resnet and a downsampler are 4 input blocks (conv_in first); a fifth is no level
        String m = refused("sd1", s -> s.put(LdmLayout.UNET + "input_blocks.4.0.in_layers.0.weight", new long[] {32}));
        assertTrue(m.contains("has 5 UNet input blocks with a downsampler after 1: not a Stable Diffusion UNet layout"), m);
    }

    @Test
    void aOneLevelUNetHasNoDownsampler() {
        // sd1 without its second level: conv_in and one resnet going down, two coming up, no down- or upsampler
        Map<String, long[]> s = shapes("sd1");
        s.keySet().removeIf(k -> k.startsWith(LdmLayout.UNET + "input_blocks.2.") || k.startsWith(LdmLayout.UNET + "input_blocks.3.")
                || k.startsWith(LdmLayout.UNET + "output_blocks.2.") || k.startsWith(LdmLayout.UNET + "output_blocks.3."));
        LdmLayout l = LdmLayout.read(FILE, s);
        assertArrayEquals(new int[] {32}, l.unetChannels());
        assertEquals(1, l.unetLayers(), "every input block after conv_in is a resnet of the one level");
    }

    @Test
    void eachLevelsWidthIsItsFirstResnets() {
        // level 1's first resnet (input_blocks.3) made 64 wide: the levels are 32 and 64
        Map<String, long[]> s = shapes("sd1");
        s.put(LdmLayout.UNET + "input_blocks.3.0.out_layers.3.weight", new long[] {64, 32, 3, 3});
        assertArrayEquals(new int[] {32, 64}, LdmLayout.read(FILE, s).unetChannels());
    }

    @Test
    void aLevelsTransformerDepthComesFromItsDownBlockElseItsUpBlock() {
        // sd1: attention in down level 0 and up level 1 (its mirror), one transformer block each
        String down0 = LdmLayout.UNET + "input_blocks.1.1.", up1 = LdmLayout.UNET + "output_blocks.2.1.";
        Map<String, long[]> s = shapes("sd1");
        assertArrayEquals(new int[] {1, 1}, LdmLayout.read(FILE, s).transformerDepth());
        // a second block in the down level's transformer: the down block decides
        s.put(down0 + "transformer_blocks.1.norm1.weight", new long[] {32});
        assertArrayEquals(new int[] {2, 1}, LdmLayout.read(FILE, s).transformerDepth());
        // no attention going down, two blocks coming up: the up block decides
        Map<String, long[]> t = shapes("sd1");
        t.keySet().removeIf(k -> k.startsWith(down0));
        t.put(up1 + "transformer_blocks.1.norm1.weight", new long[] {32});
        LdmLayout l = LdmLayout.read(FILE, t);
        assertArrayEquals(new boolean[] {false, false}, l.downAttention());
        assertArrayEquals(new int[] {2, 1}, l.transformerDepth());
        // the deepest level (no attention going down) with two blocks in its up block (up 0) and in the mid block
        Map<String, long[]> u = shapes("sd1");
        for (String k : new String[] {"output_blocks.0.1.transformer_blocks.0.", "output_blocks.0.1.transformer_blocks.1.",
                "middle_block.1.transformer_blocks.1."}) {
            u.put(LdmLayout.UNET + k + "norm1.weight", new long[] {32});
        }
        LdmLayout deep = LdmLayout.read(FILE, u);
        assertArrayEquals(new boolean[] {true, true}, deep.upAttention());
        assertArrayEquals(new int[] {1, 2}, deep.transformerDepth());
    }

    @Test
    void anOpenClipTowerOfTwoBlocksAndItsHeadLeavesOne() {
        String resblocks = LdmLayout.OPEN_CLIP + "transformer.resblocks.";
        Map<String, long[]> s = shapes("sd2-v");
        s.keySet().removeIf(k -> k.startsWith(resblocks) && !k.startsWith(resblocks + "0.") && !k.startsWith(resblocks + "1."));
        assertTrue(s.containsKey(LdmLayout.OPEN_CLIP + "text_projection"));
        LdmLayout l = LdmLayout.read(FILE, s);
        assertEquals(2, l.textBlocksInFile());
        assertEquals(1, l.textLayers(), "SD 2.x conditions on the penultimate block: the first");
        assertEquals("OpenCLIP's last layer (SD 2.x conditions on the penultimate one)", l.ignoredBecause(resblocks + "1.ln_1.weight"));
    }

    @Test
    void theRefinersSummaryHasNoFirstTextEncoder() {
        Map<String, long[]> s = new LinkedHashMap<>();
        SafeTensors.readAll(LdmCheckpointRefinerTest.FILE).forEach((k, t) -> s.put(k, t.shape()));
        LdmLayout l = LdmLayout.read(FILE, s);
        assertTrue(l.toString().startsWith("SDXL refiner: UNet "), l.toString());
        assertFalse(l.toString().contains(", text encoder 0"), l.toString());
        assertTrue(l.toString().endsWith(", text encoder 2 " + l.text2().layers() + " x " + l.text2().hidden()), l.toString());
    }

    @Test
    void shapesOutOfRangeAreRefused() {
        String key = LdmLayout.VAE + "encoder.conv_in.weight";
        assertTrue(refused("sd1", s -> s.put(key, new long[] {4, 0, 3, 3})).contains("tensor " + key + " has shape [4, 0, 3, 3]"));
        refused("sd1", s -> s.put(key, new long[] {4}));
        refused("sd1", s -> s.put(key, new long[] {4, (1 << 20) + 1, 3, 3}));
        Map<String, long[]> s = shapes("sd1");
        s.put(key, new long[] {4, 1 << 20, 3, 3});
        assertEquals(1 << 20, LdmLayout.read(FILE, s).vaeIn(), "2^20 is the widest accepted");
        s.put(key, new long[] {4, 1, 3, 3});
        assertEquals(1, LdmLayout.read(FILE, s).vaeIn());
        assertTrue(refused("sd1", m -> m.remove(LdmLayout.UNET + "out.2.weight")).contains("has no tensor " + LdmLayout.UNET + "out.2.weight"));
    }

    @Test
    void countsAreBounded() {
        // 65 VAE levels (numbered 0-64, no gaps) is over the 64 accepted; 64 is read
        String prefix = LdmLayout.VAE + "encoder.down.";
        Map<String, long[]> s = shapes("sd1");
        long[] conv2 = s.get(prefix + "0.block.0.conv2.weight");
        for (int i = 0; i < 64; i++) s.putIfAbsent(prefix + i + ".block.0.conv2.weight", conv2);
        assertEquals(64, LdmLayout.read(FILE, s).vaeChannels().length);
        s.put(prefix + "64.block.0.conv2.weight", conv2);
        CheckpointException e = assertThrows(CheckpointException.class, () -> LdmLayout.read(FILE, s));
        assertTrue(e.getMessage().contains("has 65 VAE levels"), e.getMessage());
    }

    @Test
    void openClipTowerLeavesOutItsHeadAndLastBlock() {
        LdmLayout sd2 = LdmLayout.read(FILE, shapes("sd2-v"));
        String resblocks = LdmLayout.OPEN_CLIP + "transformer.resblocks.";
        assertNull(sd2.ignoredBecause(resblocks + (sd2.textLayers() - 1) + ".ln_1.weight"));
        assertNotNull(sd2.ignoredBecause(resblocks + sd2.textLayers() + ".ln_1.weight"));
        assertTrue(sd2.ignoredBecause(LdmLayout.OPEN_CLIP + "text_projection").contains("contrastive head"));
        assertTrue(sd2.ignoredBecause(LdmLayout.OPEN_CLIP + "logit_scale").contains("contrastive head"));
        assertNull(sd2.ignoredBecause(LdmLayout.OPEN_CLIP + "token_embedding.weight"));
        assertTrue(sd2.ignoredBecause("model_ema.decay").contains("training state"));
        assertTrue(sd2.ignoredBecause("alphas_cumprod").contains("training state"));
        assertNull(sd2.ignoredBecause(LdmLayout.UNET + "out.2.weight"));
        assertNull(sd2.ignoredBecause(LdmLayout.VAE + "decoder.conv_out.weight"));
        // SD 1.x's CLIP has no such head: nothing of cond_stage_model is left out
        LdmLayout sd1 = LdmLayout.read(FILE, shapes("sd1"));
        assertNull(sd1.ignoredBecause(LdmLayout.OPEN_CLIP + "text_projection"));
        assertNull(sd1.ignoredBecause(LdmLayout.CLIP + "text_model.final_layer_norm.weight"));

        // with text_projection the file holds the full tower (one block more than SD 2.x uses); without, only the used ones
        Map<String, long[]> s = shapes("sd2-v");
        boolean full = s.containsKey(LdmLayout.OPEN_CLIP + "text_projection");
        LdmLayout l = LdmLayout.read(FILE, s);
        assertEquals(full ? l.textBlocksInFile() - 1 : l.textBlocksInFile(), l.textLayers());
        if (full) s.remove(LdmLayout.OPEN_CLIP + "text_projection");
        else s.put(LdmLayout.OPEN_CLIP + "text_projection", new long[] {l.textHidden(), l.textHidden()});
        LdmLayout other = LdmLayout.read(FILE, s);
        assertEquals(full ? other.textBlocksInFile() : other.textBlocksInFile() - 1, other.textLayers());
        // one block with a head leaves none: refused
        Map<String, long[]> one = shapes("sd2-v");
        one.keySet().removeIf(k -> k.startsWith(resblocks) && !k.startsWith(resblocks + "0."));
        one.put(LdmLayout.OPEN_CLIP + "text_projection", new long[] {l.textHidden(), l.textHidden()});
        CheckpointException e = assertThrows(CheckpointException.class, () -> LdmLayout.read(FILE, one));
        assertTrue(e.getMessage().contains("1 blocks: too few"), e.getMessage());
    }

    @Test
    void sd1ClipWithoutTheTextModelPrefix() {
        // older SD 1.x files (transformers before 4.x) keep CLIP's keys without "text_model."
        Map<String, long[]> s = shapes("sd1");
        String with = LdmLayout.CLIP + "text_model.";
        assertTrue(s.keySet().stream().anyMatch(k -> k.startsWith(with)));
        LdmLayout a = LdmLayout.read(FILE, s);
        assertEquals(with, a.clipPrefix());
        renamePrefix(s, with, LdmLayout.CLIP);
        LdmLayout b = LdmLayout.read(FILE, s);
        assertEquals(LdmLayout.CLIP, b.clipPrefix());
        assertEquals(a.textLayers(), b.textLayers());
        assertEquals(a.textHidden(), b.textHidden());
        assertEquals(a.textVocab(), b.textVocab());
    }

    @Test
    void sdxlBaseHasTwoTextEncodersPerLevelDepthsAndAnAddedEmbedding() {
        Map<String, long[]> s = shapes("sdxl");
        LdmLayout l = LdmLayout.read(FILE, s);
        assertEquals("SDXL", l.family());
        assertTrue(l.sdxl());
        assertFalse(l.openClip(), "the first encoder is CLIP ViT-L");
        assertEquals(LdmLayout.SDXL_CLIP + "text_model.", l.clipPrefix());
        assertArrayEquals(new boolean[] {false, true}, l.downAttention());
        assertArrayEquals(new boolean[] {true, false}, l.upAttention());
        assertArrayEquals(new int[] {1, 2}, l.transformerDepth(), "a level without attention is 1; level 1 and the mid block 2");
        assertEquals(s.get(LdmLayout.UNET + "label_emb.0.0.weight")[1], l.addEmbeddingIn());
        long[] projection = s.get(LdmLayout.SDXL_OPEN_CLIP + "text_projection");
        assertEquals(projection[0], l.text2().hidden());
        assertEquals(projection[1], l.text2().projection());
        assertEquals(2, l.text2().layers(), "every OpenCLIP block of the file");
        assertTrue(l.toString().contains("text encoder 2 2 x 64"), l.toString());
        assertTrue(l.ignoredBecause(LdmLayout.SDXL_OPEN_CLIP + "logit_scale").contains("temperature"));
        assertNull(l.ignoredBecause(LdmLayout.SDXL_OPEN_CLIP + "text_projection"));
        assertTrue(l.ignoredBecause("cond_stage_model.model.x").contains("not part of"), "SD 1.x/2.x keys in an SDXL file");
        // SD 1.x/2.x files have no second encoder nor added embedding
        assertNull(LdmLayout.read(FILE, shapes("sd1")).text2());
        assertEquals(0, LdmLayout.read(FILE, shapes("sd2-v")).addEmbeddingIn());

        // a middle block deeper than the last level's transformers is no diffusers UNet
        String m = refused("sdxl", x -> x.put(LdmLayout.UNET + "middle_block.1.transformer_blocks.2.norm1.weight", new long[] {32}));
        assertTrue(m.contains("3 transformer blocks in the UNet's middle block but 2 in its last level"), m);
    }
}
