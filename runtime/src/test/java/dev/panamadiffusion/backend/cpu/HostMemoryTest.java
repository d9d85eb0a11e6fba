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
        assertEquals(1 << 20, m.lentBytes());
        long pooled = m.pooledBytes();
        t = null;
        awaitReturn(m, 0);
        assertEquals(0, m.lentBytes(), "block returned");
        Tensor again = m.uninitialized(250, 1024);
        assertEquals(pooled, m.pooledBytes(), "slab reused, not a new one");
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
    void loansAreWholePages() {
        for (long b : new long[] {1, 4095, 4096, 65537, 1 << 20, (1 << 20) + 1, 10_485_760L, 41_943_041L}) {
            long c = HostMemory.loanSize(b);
            assertTrue(c >= b && c < b + HostMemory.PAGE && c % HostMemory.PAGE == 0, b + " -> " + c);
        }
    }

    @Test
    void aPoolPastItsThresholdCollectsAndStaysBounded() {
        long threshold = 8L << 20;
        HostMemory m = new HostMemory(threshold, 1 << 20); // every result takes a slab of its own
        Tensor keep = m.uninitialized(256, 1024); // 1 MiB that stays lent throughout
        for (int i = 0; i < 200; i++) {
            Tensor t = m.uninitialized(256 + i % 3 * 64, 1024); // 1-1.5 MiB results, dropped at once
            t.segment().fill((byte) i);
        }
        assertTrue(m.collections() > 0, "the pool asked for a collection");
        assertTrue(m.pooledBytes() <= 2 * threshold, "pool bounded: " + m.pooledBytes() + " bytes");
        assertTrue(m.lentBytes() >= 1 << 20, "the kept result is still lent");
        assertEquals(256 * 1024, keep.numel());
    }

    @Test
    void closeFreesIdleSlabsAtOnceAndLentOnesWhenTheyComeBack() throws InterruptedException {
        HostMemory m = new HostMemory(512L << 20, 1 << 20); // each result in a slab of its own: 2 MiB, a huge page
        Tensor kept = m.uninitialized(256, 1024);
        Tensor dropped = m.uninitialized(512, 1024);
        long keptBytes = 1 << 20;
        dropped = null;
        awaitReturn(m, keptBytes);
        assertEquals(keptBytes, m.lentBytes());
        m.close();
        assertEquals(2 << 20, m.pooledBytes(), "the idle slab is freed, the lent one's stays");
        assertEquals(256 * 1024, kept.numel());
        kept = null;
        awaitReturn(m, 0);
        assertEquals(0, m.pooledBytes(), "the lent one's slab is freed when it comes back");
    }

    @Test
    void aReleasedBlockIsReusedAtOnceWithoutACollection() {
        HostMemory m = new HostMemory(4L << 20, 1 << 20); // a second 2 MiB slab would ask for a collection
        for (int i = 0; i < 200; i++) {
            Tensor t = m.uninitialized(512, 1024); // 2 MiB
            t.segment().set(ValueLayout.JAVA_FLOAT, 0, i);
            assertTrue(m.release(t.storage()));
            assertEquals(0, m.lentBytes(), "released at once");
        }
        assertEquals(2 << 20, m.pooledBytes(), "one slab, reused by every loan");
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
        assertEquals(1 << 20, m.lentBytes());
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

    @Test
    void freedNeighboursMergeAndServeALargerLoan() {
        HostMemory m = new HostMemory(512L << 20, 8L << 20);
        Tensor a = m.uninitialized(512, 1024), b = m.uninitialized(512, 1024), c = m.uninitialized(512, 1024); // 2 MiB
        long address = a.storage().address();
        assertEquals(8L << 20, m.pooledBytes(), "one slab holds the three");
        assertTrue(m.release(b.storage()));
        assertTrue(m.release(a.storage()));
        Tensor ab = m.uninitialized(1024, 1024); // 4 MiB: a and b merged
        assertEquals(address, ab.storage().address());
        assertEquals(8L << 20, m.pooledBytes(), "no new slab");
        assertTrue(m.release(ab.storage()));
        assertTrue(m.release(c.storage()));
        Tensor whole = m.uninitialized(2048, 1024); // 8 MiB: the whole slab again, its three ranges merged
        assertEquals(address, whole.storage().address());
        assertEquals(8L << 20, m.pooledBytes());
    }

    @Test
    void aLoanTakesTheSmallestFreeRangeThatFits() {
        HostMemory m = new HostMemory(512L << 20, 16L << 20);
        Tensor big = m.uninitialized(768, 1024), sep1 = m.uninitialized(16, 1024); // 3 MiB, then 64 KiB
        Tensor small = m.uninitialized(256, 1024), sep2 = m.uninitialized(16, 1024); // 1 MiB, then 64 KiB
        assertTrue(m.release(big.storage()));
        assertTrue(m.release(small.storage()));
        Tensor next = m.uninitialized(200, 1024); // fits either hole (or the slab's tail): takes the 1 MiB one
        assertEquals(small.storage().address(), next.storage().address());
        assertTrue(m.release(sep1.storage()) && m.release(sep2.storage()), "the separators stayed lent throughout");
    }

    @Test
    void aRepeatedSequenceOfLoansStaysWithinASlabOfTheMostLentAndStopsGrowingAfterItsFirstRound() {
        // a step's pattern: results of sizes spread over 64 KiB - 8 MiB, some kept for a while (skip connections),
        // most released soon after; a pool of whole blocks reused by sizes within a quarter of theirs held 2.6x the
        // most lent at once for this sequence (118 MiB for 45), as for an SD 1.5 step (482 MiB for 182)
        long slab = 32L << 20;
        HostMemory m = new HostMemory(512L << 20, slab);
        java.util.SplittableRandom r = new java.util.SplittableRandom(7);
        int n = 600;
        long[] sizes = new long[n];
        int[] lifetimes = new int[n];
        for (int i = 0; i < n; i++) {
            sizes[i] = (long) (65536 * Math.pow(2, r.nextDouble() * 7)) / 4096 * 4096;
            lifetimes[i] = r.nextInt(10) == 0 ? 40 + r.nextInt(60) : 1 + r.nextInt(3);
        }
        long firstRound = 0, maxLent = 0;
        for (int round = 0; round < 3; round++) {
            Tensor[] held = new Tensor[n];
            for (int i = 0; i < n; i++) {
                held[i] = m.uninitialized(sizes[i] / 4);
                held[i].segment().set(ValueLayout.JAVA_FLOAT, 0, i);
                maxLent = Math.max(maxLent, m.lentBytes());
                for (int j = 0; j < i; j++) {
                    if (held[j] != null && j + lifetimes[j] <= i) {
                        assertEquals(j, held[j].getFloat(0), "a live result kept its contents");
                        assertTrue(m.release(held[j].storage()));
                        held[j] = null;
                    }
                }
            }
            for (Tensor t : held) if (t != null) assertTrue(m.release(t.storage()));
            assertEquals(0, m.lentBytes());
            if (round == 0) firstRound = m.pooledBytes();
            else assertEquals(firstRound, m.pooledBytes(), "round " + round + " grew the pool");
        }
        assertTrue(firstRound <= maxLent + slab, "pool " + firstRound + " bytes for " + maxLent + " lent at most");
        assertEquals(0, m.collections());
    }
}
