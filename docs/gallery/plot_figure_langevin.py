"""
Figure: mean-field Langevin dynamics
====================================

Noisy particles descend a free energy: its exponential approach at several temperatures,
the price of the entropy in risk, and propagation of chaos as m grows (quick size).
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("langevin", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)
for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + c["check"])

fig, ax = plt.subplots(figsize=(12, 4), layout="constrained")
ax.imshow(mpimg.imread(f"{out}/langevin.png"))
ax.axis("off")
