package dev.panamadiffusion.schedulers;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Builds schedulers from a model's {@code scheduler_config.json}: the model's own class ({@link #fromConfig}) or a
 * sampler picked by its A1111 name ({@link #create}), the way diffusers swaps schedulers with
 * {@code NewScheduler.from_config(pipe.scheduler.config)}.
 */
public final class Schedulers {
    private Schedulers() {}

    /** The values of {@code timestep_spacing} the schedulers implement. */
    public static final List<String> TIMESTEP_SPACINGS = List.of("leading", "linspace", "trailing");

    /** Throws an {@link IllegalArgumentException} listing the valid values unless {@code spacing} is one of them. */
    public static String requireTimestepSpacing(String spacing) {
        if (!TIMESTEP_SPACINGS.contains(spacing)) {
            throw new IllegalArgumentException("timestep spacing '" + spacing + "' is not one of " + String.join(", ", TIMESTEP_SPACINGS));
        }
        return spacing;
    }

    /** The A1111 sampler names {@link #create} accepts. */
    public static List<String> names() {
        return Arrays.stream(SamplerName.values()).map(SamplerName::displayName).toList();
    }

    /**
     * The sampler called {@code samplerName} (case-insensitive, see {@link SamplerName}) set up from the model's
     * scheduler config ({@code null}: Stable Diffusion 1.5's).
     *
     * <p>As in diffusers, the new scheduler takes every config value the model's scheduler had, including the model
     * scheduler's own defaults for keys its file lacks (so Stable Diffusion 1.5's PNDM config gives every sampler
     * "leading" timestep spacing with steps_offset 1), and its own defaults for the rest. The sampler name then fixes
     * what it implies: Karras sigmas or not, and DPM-Solver++ of order 2 for the "DPM++ 2M" samplers.
     */
    public static Scheduler create(String samplerName, SchedulerConfig modelConfig) {
        return create(SamplerName.parse(samplerName), modelConfig);
    }

    public static Scheduler create(SamplerName sampler, SchedulerConfig modelConfig) {
        SchedulerConfig base = modelConfig != null ? modelConfig : SchedulerConfig.sd15();
        SchedulerConfig ownDefaults = defaults(base.className());
        if (ownDefaults != null) base = base.withDefaults(ownDefaults);
        base = base.with("_class_name", sampler.schedulerClass());
        return switch (sampler) {
            case DDIM -> new DDIMScheduler(base);
            case PNDM -> new PNDMScheduler(base);
            case EULER -> new EulerDiscreteScheduler(base.with("use_karras_sigmas", false));
            case EULER_A -> new EulerAncestralDiscreteScheduler(base);
            case DPMPP_2M, DPMPP_2M_KARRAS -> new DPMSolverMultistepScheduler(base.with(Map.of(
                    "algorithm_type", "dpmsolver++",
                    "solver_order", 2,
                    "use_karras_sigmas", sampler == SamplerName.DPMPP_2M_KARRAS)));
            case LMS -> new LMSDiscreteScheduler(base.with("use_karras_sigmas", false));
            case LCM -> new LCMScheduler(base);
        };
    }

    /** The scheduler class the config names ({@code _class_name}), configured by it. */
    public static Scheduler fromConfig(SchedulerConfig config) {
        String className = config.className();
        if (className == null) throw new IllegalArgumentException("scheduler config has no _class_name");
        return switch (className) {
            case "DDIMScheduler" -> new DDIMScheduler(config);
            case "PNDMScheduler" -> new PNDMScheduler(config);
            case "EulerDiscreteScheduler" -> new EulerDiscreteScheduler(config);
            case "EulerAncestralDiscreteScheduler" -> new EulerAncestralDiscreteScheduler(config);
            case "DPMSolverMultistepScheduler" -> new DPMSolverMultistepScheduler(config);
            case "LMSDiscreteScheduler" -> new LMSDiscreteScheduler(config);
            case "LCMScheduler" -> new LCMScheduler(config);
            default -> throw new IllegalArgumentException("scheduler class '" + className + "' is not supported; supported: "
                    + "DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, "
                    + "DPMSolverMultistepScheduler, LMSDiscreteScheduler, LCMScheduler (or pick a sampler by name: " + names() + ")");
        };
    }

    /** diffusers' constructor defaults of a supported scheduler class, or null for other classes. */
    static SchedulerConfig defaults(String className) {
        if (className == null) return null;
        return switch (className) {
            case "DDIMScheduler" -> DDIMScheduler.DEFAULTS;
            case "PNDMScheduler" -> PNDMScheduler.DEFAULTS;
            case "EulerDiscreteScheduler" -> EulerDiscreteScheduler.DEFAULTS;
            case "EulerAncestralDiscreteScheduler" -> EulerAncestralDiscreteScheduler.DEFAULTS;
            case "DPMSolverMultistepScheduler" -> DPMSolverMultistepScheduler.DEFAULTS;
            case "LMSDiscreteScheduler" -> LMSDiscreteScheduler.DEFAULTS;
            case "LCMScheduler" -> LCMScheduler.DEFAULTS;
            default -> null;
        };
    }
}
