"""An analysis step with numpy: fit, normalise, histogram."""

import numpy as np


def normalise(values):
    spread = values.max() - values.min()
    return (values - values.min()) / spread


def main():
    rng = np.random.default_rng(4711)
    x = np.linspace(0.0, 10.0, 200)
    y = 3.0 * x + 2.0 + rng.normal(0.0, 0.5, x.size)
    slope, intercept = np.polyfit(x, y, 1)
    print(f"fit {slope:.3f} {intercept:.3f}")
    for i in range(5):
        block = normalise(y[i * 40:(i + 1) * 40])
        print(i, f"{block.mean():.4f}")
    counts, _ = np.histogram(y, bins=5)
    print("histogram", counts.tolist())
    m = np.array([[4.0, 1.0], [2.0, 3.0]])
    print("solve", np.linalg.solve(m, np.array([1.0, 2.0])).round(4).tolist())


main()
