"""
Figure: sparse deconvolution with particles that carry mass
===========================================================

Signed spikes on the torus, seen through a low-pass kernel, recovered by particles that
move and change their mass (the Wasserstein-Fisher-Rao flow) or only move
(Wasserstein): the trajectories, the success rate against m, and the objective gap
(quick size).
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("sparse-deconvolution", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)
for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + c["check"])

fig, ax = plt.subplots(figsize=(12, 8.2), layout="constrained")
ax.imshow(mpimg.imread(f"{out}/sparse-deconvolution.png"))
ax.axis("off")
