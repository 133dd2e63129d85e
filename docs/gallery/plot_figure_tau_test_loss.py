"""
Figure: test loss against the initial scale
===========================================

The talk's panel (c): an over-parameterised network (50 neurons, 1000 training points
in d = 100) trained by gradient descent from initial scales tau. Small scales
generalise; large scales interpolate lazily and their test loss rises to a plateau. This
example runs the ``tau-test-loss`` figure at its quick size: 5 values of tau, 2 trials.
"""
import tempfile

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("tau-test-loss", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)

# %%
# The checks
# ----------
# The test loss rises with tau from near zero (the smallest tau's is below a tenth of
# the largest's) to a plateau (the two largest within a factor 2) that still beats the
# zero predictor; the criterion kappa(w0) marks where the regime changes.

for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + f"{c['check']} ({c['value']})")

# %%
# The figure
# ----------
# The test loss against tau, mean and spread over trials.

fig = figures.draw("tau-test-loss", data, out)
