package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.tensor.Tensor;

/**
 * The text encoder's results, on the backend.
 *
 * @param lastHiddenState final_layer_norm(encoder output) [B, L, D]
 * @param pooledOutput    {@code lastHiddenState} at each row's end-of-text token [B, D]
 * @param hiddenState     what the UNet is conditioned on [B, L, D]: {@code lastHiddenState} for clip skip 0,
 *                        otherwise final_layer_norm(hidden_states[-(clipSkip + 1)]) (diffusers' {@code clip_skip})
 */
public record CLIPTextOutput(Tensor lastHiddenState, Tensor pooledOutput, Tensor hiddenState) {}
