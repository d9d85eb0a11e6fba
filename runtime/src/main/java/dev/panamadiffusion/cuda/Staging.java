package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.MemorySegment;

/**
 * Host ↔ device copies of any size through two pinned buffers used in turn (double buffering): a chunk is copied
 * into one buffer on the host while the other is in flight. Host memory is copied segment to segment, never through
 * the Java heap.
 */
final class Staging implements AutoCloseable {
    private final CudaStream stream;
    private final PinnedBuffer[] buffers;
    private final CudaEvent[] done;
    private final boolean[] pending = new boolean[2];
    private final long chunk;

    Staging(CudaStream stream, long chunkBytes) {
        this.stream = stream;
        this.chunk = chunkBytes;
        this.buffers = new PinnedBuffer[] {PinnedBuffer.allocate(chunkBytes), PinnedBuffer.allocate(chunkBytes)};
        this.done = new CudaEvent[] {CudaEvent.create(), CudaEvent.create()};
    }

    /** Queues the copy of {@code host} to device address {@code device}; {@code host} may be reused on return. */
    synchronized void toDevice(MemorySegment host, long device) {
        long size = host.byteSize();
        for (long off = 0, i = 0; off < size; off += chunk, i++) {
            int k = (int) (i & 1);
            long len = Math.min(chunk, size - off);
            if (pending[k]) done[k].synchronize();  // the buffer's previous copy has left it
            MemorySegment buf = buffers[k].segment();
            MemorySegment.copy(host, off, buf, 0, len);
            Check.cu(cuda_h.cuMemcpyHtoDAsync_v2(device + off, buf, len, stream.handle()), "cuMemcpyHtoDAsync_v2");
            done[k].record(stream);
            pending[k] = true;
        }
    }

    /** Copies device bytes at {@code device} into {@code host} after the work queued before; returns when done. */
    synchronized void toHost(long device, MemorySegment host) {
        long size = host.byteSize();
        long chunks = (size + chunk - 1) / chunk;
        for (long i = 0; i <= chunks; i++) {
            if (i < chunks) {  // queue chunk i
                int k = (int) (i & 1);
                long off = i * chunk, len = Math.min(chunk, size - off);
                if (pending[k]) done[k].synchronize();
                Check.cu(cuda_h.cuMemcpyDtoHAsync_v2(buffers[k].segment(), device + off, len, stream.handle()), "cuMemcpyDtoHAsync_v2");
                done[k].record(stream);
                pending[k] = true;
            }
            if (i > 0) {  // drain chunk i - 1
                int k = (int) ((i - 1) & 1);
                long off = (i - 1) * chunk, len = Math.min(chunk, size - off);
                done[k].synchronize();
                pending[k] = false;
                MemorySegment.copy(buffers[k].segment(), 0, host, off, len);
            }
        }
    }

    @Override
    public void close() {
        for (CudaEvent e : done) e.close();
        for (PinnedBuffer b : buffers) b.close();
    }
}
