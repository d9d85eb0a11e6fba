package dev.panamadiffusion.schedulers;

/** numpy's {@code linspace}, {@code arange} and {@code round} with numpy's exact arithmetic, for timestep schedules. */
final class Spacing {
    private Spacing() {}

    /** The three ways diffusers spreads inference timesteps over the training range. */
    enum Kind {
        LEADING, LINSPACE, TRAILING;

        static Kind of(String name) {
            return switch (name) {
                case "leading" -> LEADING;
                case "linspace" -> LINSPACE;
                case "trailing" -> TRAILING;
                default -> throw new IllegalArgumentException("timestep_spacing '" + name
                        + "' is not supported (leading, linspace, trailing)");
            };
        }
    }

    /** {@code np.linspace(start, stop, num)} (endpoint included): i * step + start, the last one exactly stop. */
    static double[] linspace(double start, double stop, int num) {
        double[] y = new double[num];
        if (num == 0) return y;
        int div = num - 1;
        double delta = stop - start;
        if (div > 0) {
            double step = delta / div;
            for (int i = 0; i < num; i++) y[i] = step == 0 ? i / (double) div * delta + start : i * step + start;
            y[num - 1] = stop;
        } else {
            y[0] = start;
        }
        return y;
    }

    /** {@code np.arange(start, stop, step)} for floats: ceil((stop - start) / step) values start + i * delta. */
    static double[] arange(double start, double stop, double step) {
        double len = Math.ceil((stop - start) / step);
        int n = len > 0 ? Math.toIntExact((long) len) : 0;
        double[] y = new double[n];
        if (n == 0) return y;
        y[0] = start;
        if (n == 1) return y;
        y[1] = start + step;
        double delta = y[1] - y[0];
        for (int i = 2; i < n; i++) y[i] = start + i * delta;
        return y;
    }

    /** {@code np.round}: to nearest, ties to even. */
    static double[] round(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = Math.rint(x[i]);
        return y;
    }

    static double[] reverse(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[x.length - 1 - i];
        return y;
    }

    static double[] add(double[] x, double c) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] + c;
        return y;
    }

    /** {@code np.arange(0, n) * ratio} */
    static double[] scaledRange(int n, double ratio) {
        double[] y = new double[n];
        for (int i = 0; i < n; i++) y[i] = i * ratio;
        return y;
    }

    /** Each value rounded to float32 (numpy {@code astype(np.float32)}), kept as double. */
    static double[] toFloat32(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = (float) x[i];
        return y;
    }

    /**
     * Timesteps as EulerDiscrete, EulerAncestralDiscrete and LMSDiscrete compute them (float32, not rounded for
     * linspace): descending.
     */
    static double[] sigmaSchedulerTimesteps(Kind kind, int numTrain, int n, int stepsOffset) {
        return switch (kind) {
            case LINSPACE -> toFloat32(reverse(linspace(0, numTrain - 1, n)));
            case LEADING -> toFloat32(add(reverse(round(scaledRange(n, numTrain / n))), stepsOffset));
            case TRAILING -> toFloat32(add(round(arange(numTrain, 0, -(double) numTrain / n)), -1));
        };
    }
}
