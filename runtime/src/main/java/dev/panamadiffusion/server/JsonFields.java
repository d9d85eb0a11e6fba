package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Iterator;
import java.util.Set;

/** Typed, strict reads of request JSON fields: a wrong type or range is a 400 naming the field. */
final class JsonFields {
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

    int integer(String field, int dflt, int min, int max) {
        JsonNode n = get(field);
        if (n == null) return dflt;
        if (!n.isIntegralNumber() || !n.canConvertToInt()) throw HttpError.badField(field, field + " must be an integer");
        int v = n.asInt();
        if (v < min || v > max) throw HttpError.badField(field, field + " must be between " + min + " and " + max + " (got " + v + ")");
        return v;
    }

    long longValue(String field, long dflt) {
        JsonNode n = get(field);
        if (n == null) return dflt;
        if (!n.isIntegralNumber() || !n.canConvertToLong()) throw HttpError.badField(field, field + " must be an integer");
        return n.asLong();
    }

    double number(String field, double dflt, double min, double max) {
        JsonNode n = get(field);
        if (n == null) return dflt;
        if (!n.isNumber()) throw HttpError.badField(field, field + " must be a number");
        double v = n.asDouble();
        if (!(v >= min && v <= max)) throw HttpError.badField(field, field + " must be between " + min + " and " + max + " (got " + v + ")");
        return v;
    }

    JsonNode node(String field) { return get(field); }
}
