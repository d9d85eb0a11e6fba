package dev.panamadiffusion.io;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** {@code --prediction-type}: diffusers' names and the short ones, in any case and with blanks around. */
class PredictionTypeTest {
    @Test
    void diffusersNamesAndShortOnes() {
        for (String s : new String[] {"epsilon", "eps", "EPSILON", " Eps "}) assertEquals(PredictionType.EPSILON, PredictionType.parse(s), s);
        for (String s : new String[] {"v_prediction", "v", "V", " V_Prediction\t"}) assertEquals(PredictionType.V_PREDICTION, PredictionType.parse(s), s);
        assertEquals("epsilon", PredictionType.EPSILON.configName());
        assertEquals("v_prediction", PredictionType.V_PREDICTION.configName());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PredictionType.parse("sample"));
        assertEquals("unknown prediction type 'sample' (use epsilon or v_prediction)", e.getMessage());
    }
}
