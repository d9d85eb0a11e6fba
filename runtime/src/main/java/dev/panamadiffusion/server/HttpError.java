package dev.panamadiffusion.server;

/** An HTTP error answer: status, message, and the request field at fault (null when none). */
final class HttpError extends RuntimeException {
    final int status;
    final String field;
    final int retryAfterSeconds;

    HttpError(int status, String field, String message) {
        this(status, field, message, 0);
    }

    HttpError(int status, String field, String message, int retryAfterSeconds) {
        super(message);
        this.status = status;
        this.field = field;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** A 400 for {@code field}; {@code message} is the whole text the client sees. */
    static HttpError badField(String field, String message) {
        return new HttpError(400, field, message);
    }
}
