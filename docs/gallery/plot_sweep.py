"""
A sweep over the initial scale
==============================

Twelve runs: four initial scales, three trials each (one teacher and one base
initialisation per trial, rescaled by every tau), on a local process pool; then the
mean and spread of the final risk over trials.
"""
import tempfile

import particles as pt
from particles.viz import plotting
from particles.experiments import sweep

base = pt.Config(network=pt.NetworkConfig(m=16),
                 init=pt.InitConfig(symmetric=True),
                 integrator=pt.IntegratorConfig(dt=0.05, t_end=50.0),
                 record=pt.RecordConfig(frames=10, particles="ends"))
spec = sweep.Sweep(base=base, grid={"init.tau": [0.03, 0.1, 0.3, 1.0]}, trials=3,
                   name="tau")
table = sweep.run_sweep(spec, tempfile.mkdtemp(), workers=2, progress=False)
for c in table.curve("tau", "final.risk"):
    print(c["label"], [f"{v:.3g}" for v in c["mean"]])
plotting.plot_sweep(table, "tau", "final.risk")
