package dev.panamadiffusion.server;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code multipart/form-data} body (RFC 7578) as its named parts: what OpenAI's {@code /v1/images/edits} takes.
 * Anything malformed (no boundary, a part without a name, a name given twice, no closing delimiter) is a 400.
 *
 * @param parts the parts by their {@code Content-Disposition} name, in order
 */
record Multipart(Map<String, Part> parts) {
    private static final Pattern BOUNDARY = Pattern.compile("(?i);\\s*boundary=(\"([^\"]+)\"|[^;\\s]+)");
    private static final Pattern NAME = Pattern.compile("(?i);\\s*name=\"([^\"]*)\"");
    private static final Pattern FILENAME = Pattern.compile("(?i);\\s*filename=\"([^\"]*)\"");

    /** One part: its file name (null for a plain field) and its bytes. */
    record Part(String filename, byte[] data) {
        String text() { return new String(data, StandardCharsets.UTF_8); }
    }

    /** Whether {@code contentType} says multipart/form-data. */
    static boolean is(String contentType) {
        return contentType != null && contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data");
    }

    /** Parses {@code body} sent with {@code contentType} (multipart/form-data with a boundary). */
    static Multipart parse(String contentType, byte[] body) {
        if (!is(contentType)) throw new HttpError(400, null, "the body must be multipart/form-data (got " + contentType + ")");
        Matcher b = BOUNDARY.matcher(contentType);
        if (!b.find()) throw new HttpError(400, null, "multipart/form-data without a boundary");
        byte[] delimiter = ("--" + (b.group(2) != null ? b.group(2) : b.group(1))).getBytes(StandardCharsets.ISO_8859_1);
        Map<String, Part> parts = new LinkedHashMap<>();
        int at = indexOf(body, delimiter, 0);
        if (at < 0) throw new HttpError(400, null, "multipart body without its boundary");
        while (true) {
            int after = at + delimiter.length;
            if (after + 1 < body.length && body[after] == '-' && body[after + 1] == '-') break;   // closing delimiter
            int headersStart = skipLineEnd(body, after);
            int headersEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), headersStart);
            if (headersEnd < 0) throw new HttpError(400, null, "multipart part without a blank line after its headers");
            String headers = new String(body, headersStart, headersEnd - headersStart, StandardCharsets.UTF_8);
            int dataStart = headersEnd + 4;
            int next = indexOf(body, concat("\r\n".getBytes(StandardCharsets.ISO_8859_1), delimiter), dataStart);
            if (next < 0) throw new HttpError(400, null, "multipart body without its closing boundary");
            String name = null, filename = null;
            for (String line : headers.split("\r\n")) {
                if (!line.toLowerCase(Locale.ROOT).startsWith("content-disposition:")) continue;
                Matcher n = NAME.matcher(line);
                if (n.find()) name = n.group(1);
                Matcher f = FILENAME.matcher(line);
                if (f.find()) filename = f.group(1);
            }
            if (name == null || name.isEmpty()) throw new HttpError(400, null, "multipart part without a Content-Disposition name");
            byte[] data = java.util.Arrays.copyOfRange(body, dataStart, next);
            if (parts.putIfAbsent(name, new Part(filename, data)) != null) throw HttpError.badField(name, name + " is given twice");
            at = next + 2;
        }
        return new Multipart(parts);
    }

    private static int skipLineEnd(byte[] body, int i) {
        if (i + 1 < body.length && body[i] == '\r' && body[i + 1] == '\n') return i + 2;
        throw new HttpError(400, null, "malformed multipart boundary line");
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }
}
