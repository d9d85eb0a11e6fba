package dev.panamadiffusion.verify;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CompareTest {
    @Test
    void errorsAreAbsoluteAndRelativeToTheLargestReference() {
        Tensor ref = Tensor.fromFloats(new float[] {1, -4, 2}, 3);
        Tensor got = Tensor.fromFloats(new float[] {1, -4.002f, 2.001f}, 3);
        CheckResult r = Compare.tensors("x", got, ref, new Tolerance(1e-4, 1e-3));
        assertEquals(0.002, r.maxAbsErr(), 1e-6);
        assertEquals(0.0005, r.maxRelErr(), 1e-6);
        assertEquals(1e-4 + 4e-3, r.tolerance(), 1e-12);
        assertTrue(r.passed());
        assertTrue(r.line().contains("PASS"));
        CheckResult tight = Compare.tensors("x", got, ref, new Tolerance(1e-4, 1e-4));
        assertFalse(tight.passed());
        assertTrue(tight.line().contains("FAIL") && tight.line().contains("worst at [1]"), tight.line());
    }

    @Test
    void shapeMismatchAndNaNFail() {
        assertFalse(Compare.tensors("s", Tensor.zeros(2, 2), Tensor.zeros(4), Tolerance.EXACT).passed());
        Tensor nan = Tensor.fromFloats(new float[] {Float.NaN}, 1);
        assertFalse(Compare.tensors("n", nan, Tensor.zeros(1), new Tolerance(1, 1)).passed());
        assertTrue(Compare.tensors("e", Tensor.zeros(3), Tensor.zeros(3), Tolerance.EXACT).passed());
    }

    @Test
    void worstNamesThePartClosestToItsBound() {
        CheckResult a = new CheckResult("a", 1e-6, 1e-6, 1e-4, true, "");
        CheckResult b = new CheckResult("b", 9e-5, 9e-5, 1e-4, true, "");
        CheckResult w = Compare.worst("step", a, b);
        assertTrue(w.passed());
        assertEquals(9e-5, w.maxAbsErr());
        assertTrue(w.detail().contains("worst: b"));
        CheckResult c = new CheckResult("c", 1e-3, 1e-3, 1e-2, false, "bad");
        assertFalse(Compare.worst("step", a, c, b).passed());
    }
}
