package dev.panamadiffusion.schedulers;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class SchedulersTest {
    @Test
    void namesAreTheA1111Names() {
        assertEquals(List.of("DDIM", "PNDM", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "LMS", "LCM"), Schedulers.names());
    }

    @Test
    void createsEachSamplerCaseInsensitively() {
        assertInstanceOf(DDIMScheduler.class, Schedulers.create("ddim", null));
        assertInstanceOf(PNDMScheduler.class, Schedulers.create("PNDM", null));
        assertInstanceOf(EulerDiscreteScheduler.class, Schedulers.create("EULER", null));
        assertInstanceOf(EulerAncestralDiscreteScheduler.class, Schedulers.create(" euler A ", null));
        assertInstanceOf(LMSDiscreteScheduler.class, Schedulers.create("lms", null));
        DPMSolverMultistepScheduler plain = (DPMSolverMultistepScheduler) Schedulers.create("dpm++ 2m", null);
        DPMSolverMultistepScheduler karras = (DPMSolverMultistepScheduler) Schedulers.create("DPM++ 2M KARRAS", null);
        assertEquals(false, plain.config().useKarrasSigmas());
        assertEquals(true, karras.config().useKarrasSigmas());
        assertEquals("dpmsolver++", karras.config().algorithmType());
        assertEquals(2, karras.config().solverOrder());
    }

    @Test
    void unknownNameListsTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedulers.create("Heun", null));
        for (String name : Schedulers.names()) assertTrue(e.getMessage().contains('"' + name + '"'), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create((String) null, null));
    }

    @Test
    void samplersTakeTheModelConfigIncludingItsClassDefaults() {
        // SD 1.5 ships a PNDM config without timestep_spacing; diffusers' from_config carries PNDM's default
        // "leading" (with steps_offset 1) into every sampler made from it.
        EulerDiscreteScheduler euler = (EulerDiscreteScheduler) Schedulers.create("Euler", null);
        assertEquals("leading", euler.config().timestepSpacing());
        assertEquals("EulerDiscreteScheduler", euler.config().className());
        euler.setTimesteps(50);
        assertEquals(981.0, euler.timesteps()[0]);
        assertEquals(1.0, euler.timesteps()[49]);
        DDIMScheduler ddim = (DDIMScheduler) Schedulers.create("DDIM", SchedulerConfig.sd15());
        assertEquals(false, ddim.config().clipSample(), "the model's clip_sample wins over DDIM's default true");
        assertEquals(false, ddim.config().setAlphaToOne());
        // a model whose own scheduler is Karras DPM-Solver: "DPM++ 2M" turns Karras off, "Euler" too
        SchedulerConfig karrasModel = SchedulerConfig.sd15().with("_class_name", "DPMSolverMultistepScheduler")
                .with("use_karras_sigmas", true).with("timestep_spacing", "linspace");
        assertEquals(false, ((DPMSolverMultistepScheduler) Schedulers.create("DPM++ 2M", karrasModel)).config().useKarrasSigmas());
        assertEquals(false, ((EulerDiscreteScheduler) Schedulers.create("Euler", karrasModel)).config().useKarrasSigmas());
        assertEquals("linspace", ((EulerDiscreteScheduler) Schedulers.create("Euler", karrasModel)).config().timestepSpacing());
    }

    @Test
    void fromConfigBuildsTheNamedClass() {
        for (String name : LoopRecord.names()) {
            SchedulerConfig config = SchedulerConfig.read(LoopRecord.referenceDir().resolve("tiny")
                    .resolve("scheduler_" + name).resolve("scheduler_config.json"));
            Scheduler s = Schedulers.fromConfig(config);
            assertEquals(config.className(), s.getClass().getSimpleName(), name);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.fromConfig(SchedulerConfig.sd15().with("_class_name", "UniPCMultistepScheduler")));
        assertTrue(e.getMessage().contains("UniPCMultistepScheduler"));
        assertThrows(IllegalArgumentException.class, () -> Schedulers.fromConfig(SchedulerConfig.parse("{}")));
    }

    @Test
    void unsupportedOptionsAreRejectedClearly() {
        SchedulerConfig sd = SchedulerConfig.sd15();
        assertThrows(IllegalArgumentException.class, () -> new DDIMScheduler(sd.with("thresholding", true)));
        assertThrows(IllegalArgumentException.class, () -> new DDIMScheduler(sd.with("timestep_spacing", "middle")));
        assertThrows(IllegalArgumentException.class, () -> new DDIMScheduler(sd.with("beta_schedule", "sigmoid")));
        assertThrows(IllegalArgumentException.class, () -> new DDIMScheduler(sd.with("prediction_type", "flow")));
        assertThrows(IllegalArgumentException.class, () -> new PNDMScheduler(sd.with("prediction_type", "sample")));
        assertThrows(IllegalArgumentException.class, () -> new EulerAncestralDiscreteScheduler(sd.with("prediction_type", "sample")));
        assertThrows(IllegalArgumentException.class, () -> new EulerDiscreteScheduler(sd.with("interpolation_type", "log_linear")));
        assertThrows(IllegalArgumentException.class, () -> new DPMSolverMultistepScheduler(sd.with("algorithm_type", "dpmsolver")),
                "final_sigmas_type zero needs a data-prediction algorithm");
        assertThrows(IllegalArgumentException.class, () -> new DPMSolverMultistepScheduler(
                sd.with("algorithm_type", "sde-dpmsolver++").with("solver_order", 3)));
        assertThrows(IllegalArgumentException.class, () -> new DPMSolverMultistepScheduler(sd.with("variance_type", "learned")));
        Scheduler ddim = new DDIMScheduler(sd);
        assertThrows(IllegalArgumentException.class, () -> ddim.setTimesteps(0));
        assertThrows(IllegalArgumentException.class, () -> ddim.setTimesteps(1001));
    }
}
