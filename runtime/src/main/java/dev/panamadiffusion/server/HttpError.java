package dev.panamadiffusion.server;

/** An HTTP error answer: status, message, and the request field at fault (null when none). */
final class HttpError extends RuntimeException {
    final int status;
    final String field;

    HttpError(int status, String field, String message) {
        super(message);
        this.status = status;
        this.field = field;
    }

    /** A 400 for {@code field}; {@code message} is the whole text the client sees. */
    static HttpError badField(String field, String message) {
        return new HttpError(400, field, message);
    }
}
