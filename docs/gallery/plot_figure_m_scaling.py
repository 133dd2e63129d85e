"""
Figure: approaching the mean-field limit
========================================

A network of m particles follows a noisy, biased version of the mean-field flow. This
example runs the ``m-scaling`` figure at its quick size (m = 16 to 256, 6 trials, a
reference run at m = 1024): every run learns the same teacher (d = 5, three ReLU
neurons) from its own random initialisation, up to t = 4 on the mean-field clock.
"""
import tempfile

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("m-scaling", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)

# %%
# The checks
# ----------
# The theory predicts two rates: the trial-averaged risk approaches the limit's like
# 1/m (a bias, slope -1), while one run's distance to the limit, as a function or as a
# cloud of particles, shrinks like 1/sqrt(m) (a fluctuation, slope -1/2). At quick
# size the checks ask that the three quantities fall with m (the 95 % interval of each
# fitted slope below 0); the full figure also asks that every slope be determined
# within +-0.1 and that the theory's bias C/m + D/m^2 fit the averaged risks.

for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + f"{c['check']} ({c['value']})")

# %%
# The figure
# ----------
# Left, the bias of the risk against m with the fitted limit subtracted; middle, the
# L2 distance between one network and the reference on held-out inputs; right, the
# 2-Wasserstein distance between the particle clouds. At quick size the intervals are
# wide; ``particles figure m-scaling`` (1200 trials) pins the slopes down.

fig = figures.draw("m-scaling", data, out)
