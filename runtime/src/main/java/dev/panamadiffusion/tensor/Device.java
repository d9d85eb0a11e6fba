package dev.panamadiffusion.tensor;

/** Where a tensor's bytes live. Host tensors can be read from Java; CUDA tensors hold a device address. */
public enum Device { CPU, CUDA }
