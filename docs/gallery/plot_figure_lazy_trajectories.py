"""
Figure: lazy and not lazy in the plane
======================================

The talk's panels (a)-(b): the same 16-neuron network, in the standard scaling, is
trained by gradient descent from two initial scales. From tau = 0.1 its neurons travel
to the teacher's three directions (feature learning); from tau = 2 they barely move and
the network behaves as its linearisation (the lazy regime). The figure's quick version
is its full version: it takes seconds.
"""
import tempfile

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("lazy-trajectories", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)

# %%
# The checks
# ----------
# At tau = 2 the median neuron turns by less than 5 degrees and the parameters move by
# less than 10 % of their norm; at tau = 0.1 the neurons turn and travel further than
# their initial norm, and the network generalises better. The criterion kappa(w0),
# computed before training, predicts both regimes. One more check keeps the teacher
# like the published one: output weights of both signs, directions far apart.

for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + f"{c['check']} ({c['value']})")

# %%
# The figure
# ----------
# Left and middle, the paths of ``|c_i| a_i`` coloured by the final sign of c_i, with the
# teacher's directions and the unit circle; right, the test loss of both runs against
# time. ``particles figure lazy-trajectories`` also writes the two runs side by side as
# an animation.

fig = figures.draw("lazy-trajectories", data, out)
