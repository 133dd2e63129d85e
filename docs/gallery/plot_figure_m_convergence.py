"""
Figure: global convergence against the number of neurons
========================================================

The talk's panel (e): once the network has more neurons than the teacher, gradient flow
on all layers (polished by L-BFGS) reaches the global minimum of the population loss,
while fitting only the output layer on random features does not. This example runs the
``m-convergence`` figure at its quick size: d = 100, a teacher of 5 neurons, 6 values of
m, 2 trials, for ReLU, erf and the sigmoid.
"""
import tempfile

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("m-convergence", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)

# %%
# The checks
# ----------
# For m >= 4 m0 every trained run falls to the floor (the level that runs certified
# globally optimal reach), the random-features baseline stays more than 1000 times
# above it, and below m0 the flow cannot reach it.

for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + f"{c['check']} ({c['value']})")

# %%
# The figure
# ----------
# One panel per activation: the polished risk of the particle flow and of the convex
# baseline against m, mean and spread over trials, with the floor as a band.

fig = figures.draw("m-convergence", data, out)
