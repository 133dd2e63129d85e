"""
The default run
===============

Thirty-two ReLU neurons learn a three-neuron teacher on the circle: the embedded
default configuration of ``particles run``, shortened here to t = 200.
"""
import tempfile

import matplotlib.pyplot as plt

import particles as pt
from particles.viz import plotting
from particles.cli import DEFAULT_CONFIG

cfg = pt.load_toml(DEFAULT_CONFIG)
cfg = cfg.replace(integrator=cfg.integrator.replace(t_end=200.0))
path = tempfile.mkdtemp() + "/default.h5"
result = pt.run(cfg, path)
print(result.status, f"risk {result.observables['risk'][0]:.3g} -> "
      f"{result.observables['risk'][-1]:.3g}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
with pt.load(path) as run:
    plotting.plot_paths(run, ax=axes[0])
    plotting.plot_risk(run, ax=axes[1])
