package dev.panamadiffusion.verify;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code torch_cpu_randn.safetensors}: {@code seed<S>_shape<d0>x<d1>…} is {@code torch.randn(shape)} from a CPU
 * generator seeded S; {@code seed<S>_two_draws} is two consecutive {@code randn([2, 4, 8, 8])} from one generator,
 * flattened. Checked against {@link TorchCpuGenerator}; other keys are ignored.
 */
final class RngChecks {
    private static final Pattern SHAPE = Pattern.compile("seed(\\d+)_shape(\\d+(?:x\\d+)*)");
    private static final Pattern TWO_DRAWS = Pattern.compile("seed(\\d+)_two_draws");

    private RngChecks() {}

    static void run(ReferenceSet set, Context ctx, Arena arena) {
        Map<String, Tensor> ref = new TreeMap<>(SafeTensors.open(set.dir().resolve(ReferenceSet.RANDN), arena).tensors());
        for (Map.Entry<String, Tensor> e : ref.entrySet()) {
            String name = set.label() + "torch randn " + e.getKey();
            Matcher shape = SHAPE.matcher(e.getKey());
            Matcher two = TWO_DRAWS.matcher(e.getKey());
            if (shape.matches()) {
                String[] parts = shape.group(2).split("x");
                long[] dims = new long[parts.length];
                for (int i = 0; i < dims.length; i++) dims[i] = Long.parseLong(parts[i]);
                Tensor got = new TorchCpuGenerator(Long.parseLong(shape.group(1))).randn(dims);
                ctx.report(Compare.tensors(name, got, e.getValue(), ctx.tolerances().rng()));
            } else if (two.matches()) {
                TorchCpuGenerator g = new TorchCpuGenerator(Long.parseLong(two.group(1)));
                float[] a = g.randn(2, 4, 8, 8).toFloatArray();
                float[] b = g.randn(2, 4, 8, 8).toFloatArray();
                float[] both = new float[a.length + b.length];
                System.arraycopy(a, 0, both, 0, a.length);
                System.arraycopy(b, 0, both, a.length, b.length);
                ctx.report(Compare.tensors(name, Tensor.fromFloats(both, both.length), e.getValue(), ctx.tolerances().rng()));
            }
        }
    }

    /**
     * {@code n_iter_noise.safetensors}: AUTOMATIC1111's {@code n_iter}. {@code seed} and {@code batch_size} describe the
     * first iteration; {@code iter<i>_noise} [batch_size, C, h, w] is {@code torch.randn} from a CPU generator seeded
     * {@code seed + i · batch_size}. Each is checked against the production numbering
     * ({@link GenerationRequest#iteration}) and the pipeline's generator for that seed ({@link RngKind#generator}).
     */
    static void nIter(ReferenceSet set, Context ctx, Arena arena) {
        Path file = set.dir().resolve(ReferenceSet.N_ITER);
        Map<String, Tensor> f = SafeTensors.open(file, arena).tensors();
        long seed = ComponentChecks.require(f, "seed", file).getLong(0);
        int batch = Math.toIntExact(ComponentChecks.require(f, "batch_size", file).getLong(0));
        int iterations = 0;
        while (f.containsKey("iter" + iterations + "_noise")) iterations++;
        String name = set.label() + "n_iter seed " + seed + " batch " + batch;
        if (iterations == 0) {
            ctx.report(CheckResult.error(name, file.getFileName() + " records no iter0_noise"));
            return;
        }
        if (f.containsKey("n_iter") && f.get("n_iter").getLong(0) != iterations) {
            ctx.report(CheckResult.error(name, file.getFileName() + ": n_iter is " + f.get("n_iter").getLong(0) + " but iter0_noise.."
                    + "iter" + (iterations - 1) + "_noise are recorded"));
            return;
        }
        GenerationRequest first = GenerationRequest.of("").withSeed(seed).withBatchSize(batch);
        for (int i = 0; i < iterations; i++) {
            Tensor ref = f.get("iter" + i + "_noise");
            GenerationRequest it = first.iteration(i);
            String label = name + " iteration " + i + " (seed " + it.seed() + ")";
            if (ref.dim(0) != batch) {
                ctx.report(CheckResult.error(label, "iter" + i + "_noise has " + ref.dim(0) + " rows for batch_size " + batch));
                continue;
            }
            ctx.report(Compare.tensors(label, it.rng().generator(it.seed()).randn(ref.shape()), ref, ctx.tolerances().rng()));
        }
    }
}
