package dev.panamadiffusion.schedulers;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The samplers users pick by their AUTOMATIC1111 web UI names, and the diffusers scheduler behind each. */
public enum SamplerName {
    DDIM("DDIM", "DDIMScheduler"),
    PNDM("PNDM", "PNDMScheduler"),
    EULER("Euler", "EulerDiscreteScheduler"),
    EULER_A("Euler a", "EulerAncestralDiscreteScheduler"),
    DPMPP_2M("DPM++ 2M", "DPMSolverMultistepScheduler"),
    DPMPP_2M_KARRAS("DPM++ 2M Karras", "DPMSolverMultistepScheduler"),
    LMS("LMS", "LMSDiscreteScheduler"),
    LCM("LCM", "LCMScheduler");

    private final String displayName;
    private final String schedulerClass;

    SamplerName(String displayName, String schedulerClass) {
        this.displayName = displayName;
        this.schedulerClass = schedulerClass;
    }

    /** The A1111 name, e.g. "DPM++ 2M Karras" (also what the infotext records). */
    public String displayName() { return displayName; }

    /** The diffusers class name ({@code _class_name}) of the scheduler behind this sampler. */
    public String schedulerClass() { return schedulerClass; }

    /** The sampler called {@code name}, ignoring case and surrounding blanks; unknown names list the valid ones. */
    public static SamplerName parse(String name) {
        if (name != null) {
            String wanted = name.strip().toLowerCase(Locale.ROOT);
            for (SamplerName s : values()) {
                if (s.displayName.toLowerCase(Locale.ROOT).equals(wanted)) return s;
            }
        }
        throw new IllegalArgumentException("unknown sampler '" + name + "'; valid samplers: "
                + Arrays.stream(values()).map(s -> '"' + s.displayName + '"').collect(Collectors.joining(", ")));
    }

    @Override
    public String toString() { return displayName; }
}
