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

    static CliRun run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new CliRun(exit, out.toString(), err.toString());
    }
}
