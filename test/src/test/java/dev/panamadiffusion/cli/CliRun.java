package dev.panamadiffusion.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

/** Exit code and captured output of one in-process CLI run. */
record CliRun(int exit, String out, String err) {
    /** Standard error's non-empty lines. */
    List<String> errLines() {
        return err.lines().filter(l -> !l.isBlank()).toList();
    }

    /** Runs {@code generate --backend cpu args}; expects exit code 2 and exactly one line, which it returns. */
    static String generateUsageError(String... args) {
        String[] all = new String[args.length + 3];
        all[0] = "generate";
        all[1] = "--backend";
        all[2] = "cpu";
        System.arraycopy(args, 0, all, 3, args.length);
        CliRun r = run(all);
        org.junit.jupiter.api.Assertions.assertEquals(2, r.exit(), r.err());
        org.junit.jupiter.api.Assertions.assertEquals(1, r.errLines().size(), r.err());
        return r.errLines().get(0);
    }

    static CliRun run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new CliRun(exit, out.toString(), err.toString());
    }
}
