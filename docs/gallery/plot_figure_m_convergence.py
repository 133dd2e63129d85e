"""
Figure: global convergence against the number of neurons
========================================================

The talk's panel (e) at quick size: the polished particle flow reaches the optimisation floor once m exceeds m0, the convex random-features baseline does not.
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("m-convergence", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)
for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + c["check"])

fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
ax.imshow(mpimg.imread(f"{out}/m-convergence.png"))
ax.axis("off")
