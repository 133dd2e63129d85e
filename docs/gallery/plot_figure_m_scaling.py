"""
Figure: approaching the mean-field limit
========================================

A run with m particles approaches the mean-field limit: distances to a large-m reference against m, with fitted slopes (quick size).
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("m-scaling", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)
for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + c["check"])

fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
ax.imshow(mpimg.imread(f"{out}/m-scaling.png"))
ax.axis("off")
