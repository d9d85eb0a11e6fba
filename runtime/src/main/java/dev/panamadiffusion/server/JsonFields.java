package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.pipeline.RequestLimits;

import java.math.BigInteger;
import java.util.Iterator;
import java.util.Set;

/**
 * Typed reads of request JSON fields: a wrong type is a 400 naming the field. Ranges are not checked here but by
 * {@link RequestLimits}, the one place that knows them; an integer too large for its type is refused here.
 */
final class JsonFields {
    private static final BigInteger MAX_SEED = new BigInteger(Long.toUnsignedString(RequestLimits.MAX_SEED));
    private final ObjectNode body;

    JsonFields(JsonNode body) {
        if (body == null || !body.isObject()) throw new HttpError(400, null, "request body must be a JSON object");
        this.body = (ObjectNode) body;
    }

    /** Rejects fields outside {@code known} (typos must not be silently ignored). */
    void rejectUnknown(Set<String> known) {
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!known.contains(f)) throw HttpError.badField(f, f + " is not a known field");
        }
    }

    /** Whether {@code field} is present and not null. */
    boolean has(String field) { return get(field) != null; }

    private JsonNode get(String field) {
        JsonNode n = body.get(field);
        return n == null || n.isNull() ? null : n;
    }

    String string(String field, String dflt, boolean required) {
        JsonNode n = get(field);
        if (n == null) {
            if (required) throw HttpError.badField(field, field + " is required");
            return dflt;
        }
        if (!n.isTextual()) throw HttpError.badField(field, field + " must be a string");
        return n.asText();
    }

    int integer(String field, int dflt) {
        JsonNode n = get(field);
        if (n == null) return dflt;
        if (!n.isIntegralNumber()) throw HttpError.badField(field, field + " must be an integer");
        if (!n.canConvertToInt()) throw HttpError.badField(field, field + " " + n.asText() + " is out of range");
        return n.asInt();
    }

    double number(String field, double dflt) {
        JsonNode n = get(field);
        if (n == null) return dflt;
        if (!n.isNumber()) throw HttpError.badField(field, field + " must be a number");
        return n.asDouble();
    }

    /**
     * A seed: absent, null or -1 for a random one, else an unsigned 64-bit integer from 0 to
     * {@link RequestLimits#MAX_SEED}, returned in a long's bits.
     */
    long seed(String field) {
        JsonNode n = get(field);
        if (n == null) return RequestLimits.RANDOM_SEED;
        BigInteger v = n.isIntegralNumber() ? n.bigIntegerValue() : null;
        if (v != null && v.equals(BigInteger.ONE.negate())) return RequestLimits.RANDOM_SEED;
        if (v == null || v.signum() < 0 || v.compareTo(MAX_SEED) > 0) {
            throw HttpError.badField(field, field + " must be -1 (random) or an integer from 0 to " + MAX_SEED + ", got " + n);
        }
        return v.longValue();
    }

    JsonNode node(String field) { return get(field); }
}
