"""
Figure: test loss against the initial scale
===========================================

The talk's panel (c) at quick size: over-parameterised, d = 100; the test loss rises with tau from near zero to a lazy plateau.
"""
import tempfile

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from particles.experiments import figures

out = tempfile.mkdtemp()
data = figures.make("tau-test-loss", out, quick=True, workers=2, progress=False,
                    log=lambda *a: None)
for c in data["checks"]:
    print(("ok     " if c["passed"] else "FAILED ") + c["check"])

fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
ax.imshow(mpimg.imread(f"{out}/tau-test-loss.png"))
ax.axis("off")
