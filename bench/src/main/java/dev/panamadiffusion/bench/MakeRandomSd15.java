package dev.panamadiffusion.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.clip.CLIPTextConfig;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.AutoencoderKLConfig;
import dev.panamadiffusion.weights.Weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A random-weight Stable Diffusion 1.5 folder (f32 safetensors, SD 1.5's shapes: UNet 860M, CLIP ViT-L/14 text tower,
 * KL-f8 VAE), for memory and timing measurements without a checkpoint or Python: the demo model's tokenizer, scheduler
 * and index, its configs resized to SD 1.5, weights N(0, 0.02²) from {@link Weights#random}. The pictures are noise.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.MakeRandomSd15 models/pdiff-demo /tmp/sd15-random
 * </pre>
 */
public final class MakeRandomSd15 {
    private MakeRandomSd15() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: MakeRandomSd15 DEMO_MODEL_DIR OUT_DIR");
            System.exit(2);
        }
        Path demo = Path.of(args[0]);
        Path out = Path.of(args[1]);
        for (String dir : new String[] {"scheduler", "tokenizer"}) {
            Files.createDirectories(out.resolve(dir));
            try (var files = Files.list(demo.resolve(dir))) {
                for (Path f : files.toList()) Files.copy(f, out.resolve(dir).resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        Files.copy(demo.resolve("model_index.json"), out.resolve("model_index.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (CpuBackend cpu = new CpuBackend()) {
            component(demo, out, "text_encoder", "model.safetensors", j -> {
                j.put("hidden_size", 768).put("intermediate_size", 3072).put("num_attention_heads", 12)
                        .put("num_hidden_layers", 12).put("projection_dim", 768).put("torch_dtype", "float32");
            }, w -> new CLIPTextModel(CLIPTextConfig.sd15(), w), cpu);
            component(demo, out, "vae", "diffusion_pytorch_model.safetensors", j -> {
                j.putArray("block_out_channels").add(128).add(256).add(512).add(512);
                j.put("layers_per_block", 2).put("norm_num_groups", 32).put("sample_size", 512).put("scaling_factor", 0.18215);
            }, w -> new AutoencoderKL(AutoencoderKLConfig.sd15(), w), cpu);
            component(demo, out, "unet", "diffusion_pytorch_model.safetensors", j -> {
                j.putArray("block_out_channels").add(320).add(640).add(1280).add(1280);
                j.putArray("down_block_types").add("CrossAttnDownBlock2D").add("CrossAttnDownBlock2D").add("CrossAttnDownBlock2D")
                        .add("DownBlock2D");
                j.putArray("up_block_types").add("UpBlock2D").add("CrossAttnUpBlock2D").add("CrossAttnUpBlock2D")
                        .add("CrossAttnUpBlock2D");
                j.put("attention_head_dim", 8).put("cross_attention_dim", 768).put("layers_per_block", 2).put("sample_size", 64);
            }, w -> new UNet2DConditionModel(UNet2DConditionConfig.sd15(), w), cpu);
        }
    }

    private static void component(Path demo, Path out, String name, String file, Consumer<ObjectNode> config,
                                  java.util.function.Function<Weights, ?> build, CpuBackend cpu) throws IOException {
        Path dir = Files.createDirectories(out.resolve(name));
        ObjectNode j = (ObjectNode) JSON.readTree(demo.resolve(name).resolve("config.json").toFile());
        config.accept(j);
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), j);
        Weights w = Weights.random(cpu, name.hashCode(), 0.02f);
        build.apply(w);
        w.finish();
        SafeTensors.write(dir.resolve(file), w.bound(), Map.of());
        System.err.println("MakeRandomSd15: wrote " + dir.resolve(file));
    }
}
