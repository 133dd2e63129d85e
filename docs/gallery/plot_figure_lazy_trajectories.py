"""
Figure: lazy and not lazy in the plane
======================================

The talk's panels (a)-(b) with ``particles figure lazy-trajectories --quick``: the same
16-neuron network trained from tau = 0.1 (its neurons travel) and tau = 2 (they barely
move), with the checks of the shape the theory predicts.
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("lazy-trajectories", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)
for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + c["check"])

fig, ax = plt.subplots(figsize=(13, 4.3), layout="constrained")
ax.imshow(mpimg.imread(f"{out}/lazy-trajectories.png"))
ax.axis("off")
