package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.tokenizer.CLIPTokenizer;

import java.nio.file.Path;
import java.util.List;

/**
 * Stable Diffusion 1.x/2.x conditioning, as diffusers' {@code StableDiffusionPipeline.encode_prompt}: one CLIP
 * tokenizer and text encoder; the prompt and negative prompt are encoded to [1, 77, D] each (clip skip k:
 * final_layer_norm(hidden_states[-(k+1)]), applied to the negative prompt too, as AUTOMATIC1111) and repeated per image.
 */
public final class ClipConditioning implements PromptConditioning {
    private final Backend backend;
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final Path tokenizerDir; // for messages

    public ClipConditioning(Backend backend, CLIPTokenizer tokenizer, CLIPTextModel textEncoder, Path tokenizerDir) {
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.tokenizerDir = tokenizerDir;
    }

    @Override
    public UNetConditioning encode(GenerationRequest request, boolean guided, boolean fromImage, List<String> warnings) {
        truncationWarning(tokenizer, request.prompt(), "prompt", warnings);
        if (guided) truncationWarning(tokenizer, request.negativePrompt(), "negative prompt", warnings);
        int[] prompt = tokenIds(tokenizer, textEncoder.config().vocabSize(), request.prompt(), "prompt", tokenizerDir);
        List<int[]> rows = guided
                ? List.of(tokenIds(tokenizer, textEncoder.config().vocabSize(), request.negativePrompt(), "negative prompt", tokenizerDir), prompt)
                : List.of(prompt);
        Tensor hidden = backend.download(textEncoder.forward(ids(rows), request.clipSkip()).hiddenState()); // [n, 77, D]
        return new UNetConditioning(perImage(hidden, guided, request.batchSize()), null);
    }

    @Override
    public int maxClipSkip() { return textEncoder.config().numHiddenLayers(); }

    @Override
    public CLIPTextModel loraTextEncoder() { return textEncoder; }

    /** Host [(2)B, ...] from [1 or 2, ...]: the prompt's row (after the negative's, when guided) repeated per image. */
    static Tensor perImage(Tensor encoded, boolean guided, int batch) {
        if (!guided) return Latents.repeatRows(encoded, null, batch);                                  // [B, ...]
        return Latents.repeatRows(encoded.slice(0, 0, 1), encoded.slice(0, 1, 2), batch);              // [2B, ...]
    }

    /** Host ids [n, L] from n rows of L ids. */
    static Tensor ids(List<int[]> rows) {
        int length = rows.get(0).length;
        long[] ids = new long[rows.size() * length];
        for (int r = 0; r < rows.size(); r++) {
            for (int i = 0; i < length; i++) ids[r * length + i] = rows.get(r)[i];
        }
        return Tensor.fromLongs(ids, rows.size(), length);                                             // [n, L]
    }

    /** The tokenizer's ids for {@code text}, each checked to exist in the text encoder's embedding table of {@code vocab}. */
    static int[] tokenIds(CLIPTokenizer tokenizer, int vocab, String text, String what, Path tokenizerDir) {
        int[] ids = tokenizer.encode(text);
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("the " + what + " has token id " + id + ", outside the text encoder's"
                        + " vocabulary of " + vocab + " ids: " + tokenizerDir + " does not belong to this text encoder");
            }
        }
        return ids;
    }

    /** Adds a warning when {@code text} has more tokens than fit between the start and end tokens (as diffusers warns). */
    static void truncationWarning(CLIPTokenizer tokenizer, String text, String what, List<String> warnings) {
        int tokens = tokenizer.tokenIds(text).length;
        int room = tokenizer.maxLength() - 2;
        if (tokens > room) {
            warnings.add("the " + what + " is " + tokens + " tokens long; the text encoder reads the first " + room
                    + " and ignores the rest");
        }
    }
}
