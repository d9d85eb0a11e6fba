package dev.panamadiffusion.testkit;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Prints, at the end of a test run, every test or container that did not run, with its reason: skipped ones
 * ({@code @Disabled}, conditions) and aborted ones (a failed assumption). A JUnit 5 assumption in {@code @BeforeAll}
 * aborts a whole class, whose tests then never start: surefire counts them nowhere, so this report names the class
 * and how many tests it held. Registered for every test module through
 * {@code META-INF/services/org.junit.platform.launcher.TestExecutionListener}.
 */
public final class SkippedTestsReport implements TestExecutionListener {
    private final PrintStream out;
    private final List<String> lines = new ArrayList<>();
    private TestPlan plan;

    public SkippedTestsReport() {
        this(System.out);
    }

    SkippedTestsReport(PrintStream out) {
        this.out = out;
    }

    @Override
    public synchronized void testPlanExecutionStarted(TestPlan testPlan) {
        plan = testPlan;
        lines.clear();
    }

    @Override
    public synchronized void executionSkipped(TestIdentifier id, String reason) {
        lines.add("SKIPPED " + describe(id) + ": " + (reason == null || reason.isBlank() ? "no reason given" : reason));
    }

    @Override
    public synchronized void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (result.getStatus() != TestExecutionResult.Status.ABORTED) return;
        String reason = result.getThrowable().map(Throwable::getMessage).filter(m -> !m.isBlank()).orElse("no reason given");
        lines.add("ABORTED " + describe(id) + ": " + reason);
    }

    @Override
    public synchronized void testPlanExecutionFinished(TestPlan testPlan) {
        if (lines.isEmpty()) return;
        out.println();
        out.println("[tests not run] " + lines.size() + " skipped or aborted:");
        for (String l : lines) out.println("[tests not run]   " + l);
        out.flush();
    }

    /** "Class > method()" (display names below the engine), plus how many tests a container held. */
    private String describe(TestIdentifier id) {
        List<String> names = new ArrayList<>();
        for (Optional<TestIdentifier> t = Optional.of(id); t.isPresent() && t.get().getParentId().isPresent();
             t = plan == null ? Optional.empty() : plan.getParent(t.get())) {
            names.addFirst(t.get().getDisplayName());
        }
        String name = names.isEmpty() ? id.getDisplayName() : String.join(" > ", names);
        if (id.isContainer() && plan != null) {
            long tests = plan.getDescendants(id).stream().filter(TestIdentifier::isTest).count();
            name += " (" + tests + " test" + (tests == 1 ? "" : "s") + " not run)";
        }
        return name;
    }
}
