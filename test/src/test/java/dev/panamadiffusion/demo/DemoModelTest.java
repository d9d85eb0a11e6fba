package dev.panamadiffusion.demo;

import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.io.DemoModel;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.testing.TinyModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The project's demo model ({@code models/pdiff-demo}) draws what the prompt asks for: 24 prompts with fixed seeds, 12
 * of them (object colour, shape, background) combinations held out of its training ({@code tools/demo-model/heldout.txt}),
 * each picture read by {@link PictureMeasure} (never compared with stored pixels). At least 90% must have the prompt's
 * background and object colours, and at least 75% its shape.
 *
 * <p>{@link #check} takes the backend and the scheduler, so the same check runs on every backend and sampler: the CPU
 * and CUDA (a GPU, or the CUDA emulator in CI) each with every scheduler the runtime offers. Each run prints its
 * per-prompt table. {@code tools/demo-model/evaluate.py} computes the same scores in diffusers.
 */
class DemoModelTest {
    static final double MIN_COLOURS = 0.90;
    static final double MIN_SHAPES = 0.75;
    static final List<String> SCHEDULERS = List.of("DDIM", "PNDM", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "LMS");

    /** Combinations the model was trained on (none of them held out; checked by {@link #promptsAreHalfHeldOut}). */
    static final List<Combination> TRAINED = List.of(
            new Combination("red", "circle", "blue"), new Combination("green", "square", "white"),
            new Combination("blue", "triangle", "yellow"), new Combination("yellow", "star", "black"),
            new Combination("orange", "circle", "white"), new Combination("purple", "square", "yellow"),
            new Combination("white", "triangle", "red"), new Combination("black", "star", "green"),
            new Combination("red", "triangle", "white"), new Combination("green", "star", "purple"),
            new Combination("blue", "square", "orange"), new Combination("yellow", "circle", "purple"));

    record Combination(String colour, String shape, String background) {}

    /** One test prompt: what it asks for, whether that combination was held out, and its seed. */
    record Case(Combination c, boolean heldOut, String prompt, long seed) {}

    /** Per-prompt outcome. */
    record Outcome(Case c, PictureMeasure m) {
        boolean coloursRight() { return m.background().equals(c.c().background()) && m.object().equals(c.c().colour()); }

        boolean shapeRight() { return m.shape().equals(c.c().shape()); }
    }

    /** The score of one run: the fraction of prompts with both colours right, and with the shape right. */
    record Score(List<Outcome> outcomes) {
        double colours() { return outcomes.stream().filter(Outcome::coloursRight).count() / (double) outcomes.size(); }

        double shapes() { return outcomes.stream().filter(Outcome::shapeRight).count() / (double) outcomes.size(); }

        double coloursHeldOut() { return fraction(true, Outcome::coloursRight); }

        double shapesHeldOut() { return fraction(true, Outcome::shapeRight); }

        private double fraction(boolean heldOut, java.util.function.Predicate<Outcome> p) {
            List<Outcome> sel = outcomes.stream().filter(o -> o.c().heldOut() == heldOut).toList();
            return sel.stream().filter(p).count() / (double) sel.size();
        }

        String report(String title) {
            StringBuilder sb = new StringBuilder(title).append('\n');
            for (Outcome o : outcomes) {
                sb.append(String.format(Locale.ROOT, "  %-4s %-5s seed %-4d %-75s -> %s %s on %s (fill %.2f, bottom/top %.2f)%n",
                        o.coloursRight() ? "ok" : "COL", o.shapeRight() ? "ok" : "SHAPE", o.c().seed(), o.c().prompt(),
                        o.m().object(), o.m().shape(), o.m().background(), o.m().fill(), o.m().bottomToTop()));
            }
            sb.append(String.format(Locale.ROOT, "  colours right %.0f%% (held out %.0f%%), shape right %.0f%% (held out %.0f%%)",
                    100 * colours(), 100 * coloursHeldOut(), 100 * shapes(), 100 * shapesHeldOut()));
            return sb.toString();
        }
    }

    /** The held-out combinations listed by the training code. */
    static List<Combination> heldOut() throws IOException {
        Path home = Path.of(System.getProperty(DemoModel.HOME_PROPERTY, ".."));
        List<Combination> out = new ArrayList<>();
        for (String line : Files.readAllLines(home.resolve("tools/demo-model/heldout.txt"))) {
            if (line.isBlank() || line.startsWith("#")) continue;
            String[] f = line.trim().split(" ");
            out.add(new Combination(f[0], f[1], f[2]));
        }
        return out;
    }

    /** 24 prompts: every other held-out combination and the 12 trained ones, in four phrasings, seeds 1000-1023. */
    static List<Case> cases() throws IOException {
        List<Combination> held = heldOut();
        List<Case> cases = new ArrayList<>();
        String[] corners = {"in the top left corner", "in the top right corner", "in the bottom left corner", "in the bottom right corner"};
        for (int i = 0; i < 24; i++) {
            boolean isHeld = i % 2 == 0;
            Combination c = isHeld ? held.get(i) : TRAINED.get(i / 2);
            String size = switch (i % 4) { case 1, 2 -> "large"; case 3 -> "small"; default -> null; };
            String position = switch (i % 4) { case 1 -> "in the center"; case 2, 3 -> corners[(i / 4) % 4]; default -> null; };
            cases.add(new Case(c, isHeld, prompt(c, size, position), 1000 + i));
        }
        return cases;
    }

    /** The data set's phrasing (tools/demo-model/dataset.py, prompt()). */
    static String prompt(Combination c, String size, String position) {
        String first = size != null ? size : c.colour();
        StringBuilder sb = new StringBuilder(article(first));
        if (size != null) sb.append(' ').append(size);
        sb.append(' ').append(c.colour()).append(' ').append(c.shape());
        if (position != null) sb.append(' ').append(position);
        return sb.append(" on ").append(article(c.background())).append(' ').append(c.background()).append(" background").toString();
    }

    private static String article(String word) { return "aeiou".indexOf(word.charAt(0)) >= 0 ? "an" : "a"; }

    /**
     * Generates every case on {@code backend} with {@code scheduler} (null: the model's own) at {@code guidance} and
     * measures the pictures.
     */
    static Score check(String backend, String scheduler, int steps, double guidance) throws Exception {
        List<Case> cases = cases();
        EngineOptions options = EngineOptions.defaults(DemoModel.locate()).withBackend(backend).withMaxBatch(2 * cases.size())
                .withQueueCapacity(2 * cases.size());
        List<Outcome> outcomes = new ArrayList<>();
        try (DiffusionEngine engine = DiffusionEngine.open(options)) {
            assertEquals("pdiff-demo", engine.modelName());
            List<Generation> running = new ArrayList<>();
            for (Case c : cases) {
                running.add(engine.submit(GenerationRequest.of(c.prompt()).withSeed(c.seed()).withSteps(steps).withSampler(scheduler)
                        .withGuidanceScale(guidance)));
            }
            // one deadline for the whole batch (the engine runs the cases together, so the first result waits for
            // all of them): wide enough for the CUDA emulator on a loaded 2-core machine, still a bound on a hang
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(30);
            for (int i = 0; i < cases.size(); i++) {
                GenerationResult r = running.get(i).result().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                assertEquals(64, r.images().getFirst().width());
                outcomes.add(new Outcome(cases.get(i), PictureMeasure.of(r.images().getFirst())));
            }
        }
        return new Score(outcomes);
    }

    static void assertScore(Score s, String title) {
        String report = s.report(title);
        System.out.println(report);
        assertTrue(s.colours() >= MIN_COLOURS, "colours right for under " + (int) (100 * MIN_COLOURS) + "% of prompts\n" + report);
        assertTrue(s.shapes() >= MIN_SHAPES, "shape right for under " + (int) (100 * MIN_SHAPES) + "% of prompts\n" + report);
    }

    @Test
    void promptsAreHalfHeldOut() throws IOException {
        List<Combination> held = heldOut();
        assertTrue(held.size() >= 23, "at least 10% of the 224 combinations are held out: " + held.size());
        List<Case> cases = cases();
        assertEquals(24, cases.size());
        assertEquals(12, cases.stream().filter(Case::heldOut).count());
        for (Case c : cases) assertEquals(c.heldOut(), held.contains(c.c()), c.prompt());
        assertEquals(24, cases.stream().map(Case::prompt).distinct().count());
        assertFalse(cases.stream().anyMatch(c -> c.c().colour().equals(c.c().background())));
    }

    /**
     * The guidance each scheduler is checked at: the default 7.5, except for the multistep extrapolators PNDM (PLMS) and
     * LMS, which at 7.5 push this small model's guided noise predictions off its data (measured 2026-12-06 on the
     * shipped weights, CPU: colours right 4%, shapes 33% for both) and are checked at 2.5 (100% and 96%). Every
     * scheduler's numbers at 2-7.5 are in tools/demo-model/README.md.
     */
    static double guidanceFor(String scheduler) {
        return scheduler.equals("PNDM") || scheduler.equals("LMS") ? 2.5 : 7.5;
    }

    @Test
    void drawsThePromptOnTheCpu() throws Exception {
        assertScore(check("cpu", null, 20, 7.5), "cpu, the model's own scheduler (Euler a), 20 steps, guidance 7.5");
    }

    @ParameterizedTest
    @ValueSource(strings = {"DDIM", "PNDM", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "LMS"})
    void drawsThePromptOnTheCpuWithEveryScheduler(String scheduler) throws Exception {
        double g = guidanceFor(scheduler);
        assertScore(check("cpu", scheduler, 20, g), "cpu, " + scheduler + ", 20 steps, guidance " + g);
    }

    /** The same check on the CUDA backend: NVIDIA's driver where there is a GPU, the CUDA emulator everywhere else. */
    @Tag("gpu")
    @ParameterizedTest
    @ValueSource(strings = {"DDIM", "PNDM", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "LMS"})
    void drawsThePromptOnCudaWithEveryScheduler(String scheduler) throws Exception {
        String backend = TinyModel.cudaBackend();
        double g = guidanceFor(scheduler);
        assertScore(check(backend, scheduler, 20, g), backend + ", " + scheduler + ", 20 steps, guidance " + g);
    }
}
