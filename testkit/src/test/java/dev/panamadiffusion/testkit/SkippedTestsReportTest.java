package dev.panamadiffusion.testkit;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

/** The report, on a run of sample classes with a disabled test, a class aborted in @BeforeAll and an aborted test. */
class SkippedTestsReportTest {
    static class WithDisabled {
        @Test @Disabled("not today") void off() {}
        @Test void on() {}
    }

    static class AbortedInBeforeAll {
        @BeforeAll static void needsGpu() { assumeTrue(false, "no GPU here"); }
        @Test void first() {}
        @Test void second() {}
    }

    static class AbortedTest {
        @Test void needsWeights() { assumeTrue(false, "no weights"); }
    }

    static class AllRun {
        @Test void fine() {}
    }

    private static List<String> report(Class<?>... classes) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        SkippedTestsReport report = new SkippedTestsReport(new PrintStream(buf, true, StandardCharsets.UTF_8));
        Launcher launcher = LauncherFactory.create(LauncherConfig.builder().enableTestExecutionListenerAutoRegistration(false).build());
        LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request();
        for (Class<?> c : classes) request.selectors(selectClass(c));
        launcher.execute(request.build(), report);
        return buf.toString(StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
    }

    @Test
    void everyTestThatDidNotRunIsListedWithItsReason() {
        List<String> lines = report(WithDisabled.class, AbortedInBeforeAll.class, AbortedTest.class, AllRun.class);
        assertEquals("[tests not run] 3 skipped or aborted:", lines.get(0), String.join("\n", lines));
        assertEquals(4, lines.size(), String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.contains("SKIPPED ") && l.contains("WithDisabled > off()") && l.endsWith(": not today")),
                String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.contains("ABORTED ") && l.contains("AbortedInBeforeAll (2 tests not run)")
                && l.endsWith("no GPU here")), String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.contains("ABORTED ") && l.contains("AbortedTest > needsWeights()")
                && l.endsWith("no weights")), String.join("\n", lines));
    }

    @Test
    void nothingIsPrintedWhenEverythingRan() {
        assertEquals(List.of(), report(AllRun.class));
    }
}
