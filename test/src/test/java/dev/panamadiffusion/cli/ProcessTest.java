package dev.panamadiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code pdiff} as users run it, in its own process: the launcher's standard error, and {@code serve}'s SIGTERM. */
class ProcessTest {
    private static final Path HOME = Path.of(System.getProperty("pd.home", ".")).toAbsolutePath();
    private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

    /** A normal run of {@code ./pdiff generate} on a machine without a GPU prints no JDK warning and no long CUDA note. */
    @Test
    void launcherPrintsNoNoiseOnANormalRun(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isDirectory(HOME.resolve("runtime/target/lib")), "the runtime is not packaged (runtime/target/lib)");
        ProcessBuilder pb = new ProcessBuilder("bash", HOME.resolve("pdiff").toString(), "generate", "--prompt", "a red circle",
                "--steps", "1", "--seed", "1", "--out", tmp.resolve("x.png").toString());
        pb.environment().put("PDIFF_NO_BUILD", "1");
        pb.environment().remove("PDIFF_DEBUG");
        pb.environment().put("JAVA_HOME", Path.of(JAVA).getParent().getParent().toString());
        pb.environment().put("PDIFF_JAVA_OPTS", "-Xmx1g");
        pb.redirectOutput(tmp.resolve("out.txt").toFile()).redirectError(tmp.resolve("err.txt").toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "pdiff generate did not end");
        String err = Files.readString(tmp.resolve("err.txt"));
        assertEquals(0, p.exitValue(), err);
        assertFalse(err.contains("WARNING"), err);
        assertFalse(err.contains("libcuda") || err.contains("PD_CUDA_LIBS"), err);
        for (String line : err.split("[\r\n]+")) assertTrue(line.length() < 80, "a long line on stderr: " + line);
        assertTrue(Files.readString(tmp.resolve("out.txt")).contains("wrote "), Files.readString(tmp.resolve("out.txt")));
    }

    /**
     * SIGTERM while a long request runs: the server stops accepting, cancels the request after its grace period, answers
     * it, and exits with code 0 well within the deadline.
     */
    @Test
    void serveStopsGracefullyOnSigterm() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(JAVA, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx1g", "-Dpd.home=" + HOME, "-cp", System.getProperty("java.class.path"), "dev.panamadiffusion.cli.Main",
                "serve", "--port", "0", "--backend", "cpu", "--shutdown-grace", "2"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            Pattern serving = Pattern.compile("serving .* on http://[^:]+:(\\d+) ");
            int port = -1;
            StringBuilder log = new StringBuilder();
            for (String line; port < 0 && (line = out.readLine()) != null; ) {
                log.append(line).append('\n');
                Matcher m = serving.matcher(line);
                if (m.find()) port = Integer.parseInt(m.group(1));
            }
            assertTrue(port > 0, "no 'serving' line:\n" + log);
            HttpClient http = HttpClient.newHttpClient();
            URI base = URI.create("http://127.0.0.1:" + port);
            CompletableFuture<HttpResponse<String>> slow = http.sendAsync(HttpRequest.newBuilder(base.resolve("/sdapi/v1/txt2img"))
                    .timeout(Duration.ofMinutes(2)).POST(HttpRequest.BodyPublishers.ofString(
                            "{\"prompt\": \"x\", \"steps\": 150, \"width\": 256, \"height\": 256, \"batch_size\": 4}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            ObjectMapper json = new ObjectMapper();
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (json.readTree(http.send(HttpRequest.newBuilder(base.resolve("/sdapi/v1/progress")).build(),
                    HttpResponse.BodyHandlers.ofString()).body()).get("state").get("job").asText().isEmpty()) {
                assertTrue(System.nanoTime() < until, "the request never started");
                Thread.sleep(20);
            }
            long t0 = System.nanoTime();
            // SIGTERM (Process.destroy would close our end of its output)
            assertEquals(0, new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "still running 20 s after SIGTERM");
            double seconds = (System.nanoTime() - t0) / 1e9;
            StringBuilder restLog = new StringBuilder();
            for (String line; (line = out.readLine()) != null; ) restLog.append(line).append('\n');
            String rest = restLog.toString();
            assertEquals(0, p.exitValue(), log + rest);
            assertTrue(rest.contains("stopped"), rest);
            assertTrue(seconds < 10, "exit " + seconds + " s after SIGTERM (grace 2 s)");
            HttpResponse<String> r = slow.get(10, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.body().contains("interrupted"), r.body());
        } finally {
            p.destroyForcibly();
        }
    }
}
