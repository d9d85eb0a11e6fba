package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostMemoryTest {

    private static void awaitReturn(HostMemory m, long expectedLent) throws InterruptedException {
        for (int i = 0; i < 100 && m.lentBytes() != expectedLent; i++) {
            System.gc();
            Thread.sleep(20);
        }
    }

    @Test
    void blocksComeBackWhenTheResultIsUnreachableAndAreReused() throws InterruptedException {
        HostMemory m = new HostMemory();
        Tensor t = m.uninitialized(256, 1024); // 1 MiB
        assertEquals(HostMemory.sizeClass(1 << 20), m.lentBytes());
        long pooled = m.pooledBytes();
        t = null;
        awaitReturn(m, 0);
        assertEquals(0, m.lentBytes(), "block returned");
        Tensor again = m.uninitialized(250, 1024); // same size class
        assertEquals(pooled, m.pooledBytes(), "block reused, not a new one");
        assertEquals(250 * 1024, again.numel());
    }

    @Test
    void aSliceKeepsTheBlockLent() throws InterruptedException {
        HostMemory m = new HostMemory();
        Tensor t = m.uninitialized(256, 1024);
        MemorySegment slice = t.segment().asSlice(4096, 4096);
        slice.set(ValueLayout.JAVA_FLOAT, 0, 7f);
        t = null;
        awaitReturn(m, 0);
        assertTrue(m.lentBytes() > 0, "a live slice must keep its block out of the pool");
        assertEquals(7f, slice.get(ValueLayout.JAVA_FLOAT, 0));
    }

    @Test
    void zerosAreZeroEvenOnARecycledBlock() throws InterruptedException {
        HostMemory m = new HostMemory();
        Tensor t = m.uninitialized(64, 1024);
        t.segment().fill((byte) 1);
        t = null;
        awaitReturn(m, 0);
        Tensor z = m.zeros(64, 1024);
        for (float v : z.toFloatArray()) assertEquals(0f, v);
    }

    @Test
    void sizeClassesHaveAtMostOneEighthSlack() {
        for (long b : new long[] {1, 4095, 4096, 65537, 1 << 20, (1 << 20) + 1, 10_485_760L, 41_943_041L}) {
            long c = HostMemory.sizeClass(b);
            assertTrue(c >= b && c <= Math.max(4096, b + b / 8 + 4096), b + " -> " + c);
        }
    }

    @Test
    void aPoolPastItsThresholdCollectsAndStaysBounded() {
        long threshold = 8L << 20;
        HostMemory m = new HostMemory(threshold);
        Tensor keep = m.uninitialized(256, 1024); // 1 MiB that stays lent throughout
        for (int i = 0; i < 200; i++) {
            Tensor t = m.uninitialized(256 + i % 3 * 64, 1024); // 1-1.5 MiB results, dropped at once
            t.segment().fill((byte) i);
        }
        assertTrue(m.collections() > 0, "the pool asked for a collection");
        assertTrue(m.pooledBytes() <= 2 * threshold, "pool bounded: " + m.pooledBytes() + " bytes");
        assertTrue(m.lentBytes() >= HostMemory.sizeClass(1 << 20), "the kept result is still lent");
        assertEquals(256 * 1024, keep.numel());
    }

    @Test
    void closeFreesIdleBlocksAtOnceAndLentOnesWhenTheyComeBack() throws InterruptedException {
        HostMemory m = new HostMemory();
        Tensor kept = m.uninitialized(256, 1024);
        Tensor dropped = m.uninitialized(512, 1024);
        long keptBytes = HostMemory.sizeClass(256 * 1024 * 4);
        dropped = null;
        awaitReturn(m, keptBytes);
        assertEquals(keptBytes, m.lentBytes());
        m.close();
        assertEquals(keptBytes, m.pooledBytes(), "the idle block is freed, the lent one stays");
        assertEquals(256 * 1024, kept.numel());
        kept = null;
        awaitReturn(m, 0);
        assertEquals(0, m.pooledBytes(), "the lent block is freed when it comes back");
    }
    @Test
    void aReleasedBlockIsReusedAtOnceWithoutACollection() {
        HostMemory m = new HostMemory(4L << 20); // a second 2 MiB block would ask for a collection
        for (int i = 0; i < 200; i++) {
            Tensor t = m.uninitialized(512, 1024); // 2 MiB
            t.segment().set(ValueLayout.JAVA_FLOAT, 0, i);
            assertTrue(m.release(t.storage()));
            assertEquals(0, m.lentBytes(), "released at once");
        }
        assertEquals(HostMemory.sizeClass(2 << 20), m.pooledBytes(), "one block, reused by every loan");
        assertEquals(0, m.collections(), "no collection asked for");
    }

    @Test
    void releaseIgnoresWhatThePoolDidNotLendAsAWhole() {
        HostMemory m = new HostMemory();
        Tensor t = m.uninitialized(256, 1024);
        long lent = m.lentBytes();
        assertFalse(m.release(t.segment().asSlice(0, 4096)), "a slice of a result");
        assertFalse(m.release(MemorySegment.ofArray(new float[1024])), "memory of its own");
        assertFalse(m.release(m.uninitialized(4).storage()), "a small result, not pooled");
        assertEquals(lent, m.lentBytes());
        assertTrue(m.release(t.storage()));
        assertFalse(m.release(t.storage()), "released twice");
        assertEquals(0, m.lentBytes());
    }

    @Test
    void aStaleReleaseDoesNotTakeBackTheBlocksNextLoan() {
        HostMemory m = new HostMemory();
        Tensor first = m.uninitialized(256, 1024);
        MemorySegment stale = first.storage();
        assertTrue(m.release(stale));
        Tensor second = m.uninitialized(256, 1024); // the same block again, at the same address
        assertEquals(stale.address(), second.storage().address());
        assertFalse(m.release(stale), "the first loan is over: its segment must not free the second");
        assertEquals(HostMemory.sizeClass(1 << 20), m.lentBytes());
        second.segment().set(ValueLayout.JAVA_FLOAT, 0, 3f);
        assertEquals(3f, second.getFloat(0));
    }

    @Test
    void aReleasedBlockIsPoisonedUnderAssertions() {
        HostMemory m = new HostMemory();
        Tensor t = m.uninitialized(256, 1024);
        t.segment().fill((byte) 0);
        MemorySegment block = t.storage();
        assertTrue(m.release(block));
        if (HostMemory.class.desiredAssertionStatus()) {
            assertTrue(Float.isNaN(block.get(ValueLayout.JAVA_FLOAT, 0)), "a read after release must show as NaN");
        }
    }

    @Test
    void theGarbageCollectorDoesNotReturnAReleasedLoanTwice() throws InterruptedException {
        HostMemory m = new HostMemory();
        Tensor t = m.uninitialized(256, 1024);
        assertTrue(m.release(t.storage()));
        t = null;
        Tensor next = m.uninitialized(256, 1024); // lent again before the first loan's arena is collected
        long lent = m.lentBytes();
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertEquals(lent, m.lentBytes(), "the collected first loan must not return the block lent again");
        assertEquals(256 * 1024, next.numel());
    }
}
