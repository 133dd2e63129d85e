"""
Figure: mean-field Langevin dynamics
====================================

With noise of temperature T, the particles descend the free energy F_T = G - T H (risk
plus weight decay, minus T times the entropy of the cloud) instead of the risk. This
example runs the ``langevin`` figure at its quick size: T in {0, 0.01, 0.1}, m = 128,
2 trials, and a propagation-of-chaos sweep over m at T = 0.03.
"""
import tempfile

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("langevin", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)

# %%
# The checks
# ----------
# The free energy falls at every temperature and approaches its limit exponentially
# (a fitted rate per T > 0); the final risk at the largest T exceeds the noiseless
# flow's (the entropy's price); the distance of an m-particle network to a large
# reference falls like m^(-1/2), and the bias of the averaged objective falls with m.

for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + f"{c['check']} ({c['value']})")

# %%
# The figure
# ----------
# Left, F_T against time for each temperature, with the fitted exponential; middle,
# the final risk against T next to the noiseless flow; right, propagation of chaos
# with fitted log-log slopes.

fig = figures.draw("langevin", data, out)
