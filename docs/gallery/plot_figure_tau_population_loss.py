"""
Figure: online SGD against the initial scale
============================================

The talk's panel (d) at quick size: online SGD, d = 100; a sharp rise of the loss at convergence between tau = 0.1 and 0.4.
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("tau-population-loss", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)
for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + c["check"])

fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
ax.imshow(mpimg.imread(f"{out}/tau-population-loss.png"))
ax.axis("off")
