"""
Figure: population loss against the initial scale
=================================================

The talk's panel (d): online SGD (a fresh batch at every step) on a teacher in d = 100,
from initial scales tau spanning four decades. Small scales learn the teacher; large
scales are lazy and stop at a kernel method's loss. This example runs the
``tau-population-loss`` figure at its quick size: 7 values of tau, 2 trials.
"""
import tempfile

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("tau-population-loss", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)

# %%
# The checks
# ----------
# The loss at tau <= 0.1 is far below the loss at tau >= 0.4: the largest of the first
# is less than a fifth of the smallest of the second.

for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + f"{c['check']} ({c['value']})")

# %%
# The figure
# ----------
# The mean minibatch loss over the last 2000 steps against tau, normalised by its
# largest value, mean and spread over trials.

fig = figures.draw("tau-population-loss", data, out)
