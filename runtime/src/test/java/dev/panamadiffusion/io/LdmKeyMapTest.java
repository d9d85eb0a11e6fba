package dev.panamadiffusion.io;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link LdmKeyMap}'s naming rules where reference/single-file's tiny files (one resnet per level, widths that never
 * change inside the VAE, two VAE levels) cannot tell: kohya's LDM names of SD 1.5's and SDXL's UNets (what
 * {@code lora_unet_*} keys are), a resnet's shortcut when its convolutions' shapes cannot say, and the VAE decoder's
 * reversed levels (diffusers' {@code convert_from_ckpt.py}: {@code decoder.up_blocks.i} is {@code decoder.up.(n-1-i)}).
 */
class LdmKeyMapTest {
    private static final String UNET = LdmLayout.UNET, VAE = LdmLayout.VAE;

    // ---- kohya's names (SD 1.5: 320, 640, 1280, 1280; two resnets per level; attention in all levels but the deepest)

    private static Map<String, String> sd15() {
        return LdmKeyMap.unetLdmNames(new int[] {320, 640, 1280, 1280}, 2, new boolean[] {true, true, true, false},
                new boolean[] {false, true, true, true}, 1);
    }

    @Test
    void sd15sUNetUnderItsLdmNames() {
        Map<String, String> n = sd15();
        assertEquals("input_blocks.0.0.weight", n.get("conv_in.weight"));
        assertEquals("input_blocks.1.1.proj_in.weight", n.get("down_blocks.0.attentions.0.proj_in.weight"));
        assertEquals("input_blocks.2.0.in_layers.0.weight", n.get("down_blocks.0.resnets.1.norm1.weight"));
        assertEquals("input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight",
                n.get("down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight"));
        assertEquals("input_blocks.3.0.op.weight", n.get("down_blocks.0.downsamplers.0.conv.weight"));
        assertEquals("input_blocks.4.0.skip_connection.weight", n.get("down_blocks.1.resnets.0.conv_shortcut.weight"));
        assertEquals("input_blocks.5.0.emb_layers.1.weight", n.get("down_blocks.1.resnets.1.time_emb_proj.weight"));
        assertEquals("input_blocks.11.0.out_layers.3.weight", n.get("down_blocks.3.resnets.1.conv2.weight"));
        assertEquals("middle_block.1.proj_out.weight", n.get("mid_block.attentions.0.proj_out.weight"));
        assertEquals("middle_block.2.in_layers.2.weight", n.get("mid_block.resnets.1.conv1.weight"));
        assertEquals("output_blocks.0.0.skip_connection.weight", n.get("up_blocks.0.resnets.0.conv_shortcut.weight"));
        assertEquals("output_blocks.2.1.conv.weight", n.get("up_blocks.0.upsamplers.0.conv.weight"), "no attention: the upsampler is .1");
        assertEquals("output_blocks.5.2.conv.weight", n.get("up_blocks.1.upsamplers.0.conv.weight"), "after the attention: .2");
        assertEquals("output_blocks.5.1.transformer_blocks.0.attn1.to_q.weight",
                n.get("up_blocks.1.attentions.2.transformer_blocks.0.attn1.to_q.weight"));
        assertEquals("output_blocks.11.1.proj_out.weight", n.get("up_blocks.3.attentions.2.proj_out.weight"));
        assertEquals("out.2.weight", n.get("conv_out.weight"));
        assertNull(n.get("up_blocks.3.upsamplers.0.conv.weight"), "the last up block has no upsampler");
        assertNull(n.get("down_blocks.3.attentions.0.proj_in.weight"), "the deepest level has no attention");
    }

    @Test
    void aTransformerDepthPerLevelAsSdxlHas() {
        // SDXL: 320, 640, 1280; attention in levels 1 and 2 with 2 and 10 blocks; the mid block has the deepest's
        int[] channels = {320, 640, 1280};
        boolean[] down = {false, true, true}, up = {true, true, false};
        Map<String, String> n = LdmKeyMap.unetLdmNames(channels, 2, down, up, new int[] {1, 2, 10});
        assertEquals("input_blocks.7.1.transformer_blocks.9.attn1.to_q.weight",
                n.get("down_blocks.2.attentions.0.transformer_blocks.9.attn1.to_q.weight"));
        assertNull(n.get("down_blocks.1.attentions.0.transformer_blocks.2.attn1.to_q.weight"), "level 1 has 2 blocks");
        assertEquals("middle_block.1.transformer_blocks.9.ff.net.2.weight", n.get("mid_block.attentions.0.transformer_blocks.9.ff.net.2.weight"));
        // up block 0 mirrors level 2 (10 blocks), up block 1 level 1 (2)
        assertEquals("output_blocks.0.1.transformer_blocks.9.attn2.to_k.weight",
                n.get("up_blocks.0.attentions.0.transformer_blocks.9.attn2.to_k.weight"));
        assertEquals("output_blocks.5.1.transformer_blocks.1.norm3.weight", n.get("up_blocks.1.attentions.2.transformer_blocks.1.norm3.weight"));
        assertNull(n.get("up_blocks.1.attentions.0.transformer_blocks.2.norm3.weight"));

        // one depth for every level is the same as that depth per level
        assertEquals(LdmKeyMap.unetLdmNames(channels, 2, down, up, new int[] {3, 3, 3}), LdmKeyMap.unetLdmNames(channels, 2, down, up, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LdmKeyMap.unetLdmNames(channels, 2, down, up, new int[] {1, 2}));
        assertEquals("a transformer depth per level is needed: 2 for 3 levels", e.getMessage());
    }

    // ---- shortcuts, on the tiny SD 1.x file's shapes: output_blocks.0.0 takes 64 channels (hidden and skip) to 32 and
    // has a skip_connection; middle_block.0 keeps 32 and has none

    private static Optional<LdmKeyMap.Entry> entry(Consumer<Map<String, long[]>> edit, String diffusersKey) {
        Map<String, long[]> s = LdmLayoutTest.shapes("sd1");
        edit.accept(s);
        LdmLayout layout = LdmLayout.read(LdmLayoutTest.FILE, s);
        return LdmKeyMap.of(layout, s).entries().stream().filter(e -> e.diffusersKey().equals(diffusersKey)).findFirst();
    }

    private static final String UP = UNET + "output_blocks.0.0.", MID = UNET + "middle_block.0.";
    private static final String UP_SHORTCUT = "up_blocks.0.resnets.0.conv_shortcut.weight", MID_SHORTCUT = "mid_block.resnets.0.conv_shortcut.weight";

    private static void dropShortcut(Map<String, long[]> s) {
        assertNotNull(s.remove(UP + "skip_connection.weight"));
        s.remove(UP + "skip_connection.bias");
    }

    @Test
    void aResnetThatChangesWidthNeedsItsShortcutEvenWhenTheFileLacksIt() {
        assertEquals(Optional.of(UP + "skip_connection.weight"), entry(s -> {}, UP_SHORTCUT).map(LdmKeyMap.Entry::ldmKey));
        assertTrue(entry(s -> {}, MID_SHORTCUT).isEmpty());
        // required: the check then reports it missing
        LdmKeyMap.Entry e = entry(LdmKeyMapTest::dropShortcut, UP_SHORTCUT).orElseThrow();
        assertFalse(e.optional());
        // the widths are conv1's input (axis 1) and conv2's output (axis 0), at any rank that has those axes
        assertTrue(entry(s -> { dropShortcut(s); s.put(UP + "in_layers.2.weight", new long[] {32, 64}); }, UP_SHORTCUT).isPresent());
        assertTrue(entry(s -> { dropShortcut(s); s.put(UP + "out_layers.3.weight", new long[] {32}); }, UP_SHORTCUT).isPresent());
    }

    @Test
    void whenAConvolutionsShapeCannotSayTheFilesOwnShortcutDecides() {
        // conv1 or conv2 missing (reported as missing anyway), or without the axis that gives its width
        assertTrue(entry(s -> s.remove(UP + "in_layers.2.weight"), UP_SHORTCUT).isPresent(), "the file has it");
        assertTrue(entry(s -> s.remove(UP + "out_layers.3.weight"), UP_SHORTCUT).isPresent());
        assertTrue(entry(s -> { dropShortcut(s); s.remove(UP + "in_layers.2.weight"); }, UP_SHORTCUT).isEmpty(), "neither says");
        assertTrue(entry(s -> s.remove(MID + "in_layers.2.weight"), MID_SHORTCUT).isEmpty(), "the file has none");
        assertTrue(entry(s -> s.remove(MID + "out_layers.3.weight"), MID_SHORTCUT).isEmpty());
        assertTrue(entry(s -> s.put(MID + "in_layers.2.weight", new long[] {32}), MID_SHORTCUT).isEmpty(), "rank 1: no input axis");
        assertTrue(entry(s -> s.put(MID + "out_layers.3.weight", new long[0]), MID_SHORTCUT).isEmpty(), "rank 0: no output axis");
        assertTrue(entry(s -> s.put(UP + "out_layers.3.weight", new long[0]), UP_SHORTCUT).isPresent());
    }

    // ---- the VAE

    @Test
    void aVaeResnetThatWidensHasANinShortcut() {
        // level 1's first encoder resnet taken to 64 channels (the layout reads a level's width from its conv2)
        String conv2 = VAE + "encoder.down.1.block.0.conv2.weight";
        Optional<LdmKeyMap.Entry> e = entry(s -> s.put(conv2, new long[] {64, 32, 3, 3}), "encoder.down_blocks.1.resnets.0.conv_shortcut.weight");
        assertEquals(Optional.of(VAE + "encoder.down.1.block.0.nin_shortcut.weight"), e.map(LdmKeyMap.Entry::ldmKey));
        assertTrue(entry(s -> {}, "encoder.down_blocks.1.resnets.0.conv_shortcut.weight").isEmpty(), "32 to 32: none");
    }

    @Test
    void theVaeDecodersLevelsAreReversed() {
        // a third VAE level: decoder.up_blocks.i is decoder.up.(2 - i), its upsampler too
        Consumer<Map<String, long[]>> third = s -> s.put(VAE + "encoder.down.2.block.0.conv2.weight", new long[] {32, 32, 3, 3});
        assertEquals(3, LdmLayout.read(LdmLayoutTest.FILE, with(third)).vaeBlocks());
        assertEquals(Optional.of(VAE + "decoder.up.2.upsample.conv.weight"),
                entry(third, "decoder.up_blocks.0.upsamplers.0.conv.weight").map(LdmKeyMap.Entry::ldmKey));
        assertEquals(Optional.of(VAE + "decoder.up.1.upsample.conv.weight"),
                entry(third, "decoder.up_blocks.1.upsamplers.0.conv.weight").map(LdmKeyMap.Entry::ldmKey));
        assertTrue(entry(third, "decoder.up_blocks.2.upsamplers.0.conv.weight").isEmpty(), "the last has none");
        assertEquals(Optional.of(VAE + "decoder.up.0.block.1.conv1.weight"),
                entry(third, "decoder.up_blocks.2.resnets.1.conv1.weight").map(LdmKeyMap.Entry::ldmKey));
        assertEquals(Optional.of(VAE + "encoder.down.1.downsample.conv.weight"),
                entry(third, "encoder.down_blocks.1.downsamplers.0.conv.weight").map(LdmKeyMap.Entry::ldmKey));
    }

    private static Map<String, long[]> with(Consumer<Map<String, long[]>> edit) {
        Map<String, long[]> s = LdmLayoutTest.shapes("sd1");
        edit.accept(s);
        return s;
    }
}
