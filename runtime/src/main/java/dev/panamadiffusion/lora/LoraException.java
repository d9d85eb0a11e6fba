package dev.panamadiffusion.lora;

/**
 * A LoRA file that cannot be used: unreadable, a layout or kind this runtime does not apply (LoHa, LoKr, DoRA), or a
 * LoRA for another model (keys that name no layer of this model, shapes that do not fit its layers). The message is
 * one line that names the file.
 */
public final class LoraException extends IllegalArgumentException {
    public LoraException(String message) {
        super(message);
    }

    public LoraException(String message, Throwable cause) {
        super(message, cause);
    }
}
