"""
Sparse deconvolution, certified
===============================

Four signed spikes on the torus are seen through the Dirichlet kernel of cutoff 12. A
hundred particles of small mass, started on a grid, follow the Wasserstein-Fisher-Rao
flow: mass grows where the spikes are and fades elsewhere. The certificate compares
the largest value of ``|V(p)|`` with the penalty: the measure found is a global
minimiser.
"""
import tempfile

import matplotlib.pyplot as plt

import particles as pt
from particles.analysis.deconvolution import certificate
from particles.viz.measure import plot_deconvolution, plot_measure_paths

prob = pt.deconvolution([0.15, 0.4, 0.62, 0.85], [1.0, -0.6, 0.8, -1.1], cutoff=12,
                        noise=0.01, reg=0.1, seed=1)
cfg = pt.from_dict({"problem": {"kind": "deconvolution", "d": 1},
                    "network": {"m": 100}, "init": {"scheme": "grid", "tau": 0.01},
                    "integrator": {"geometry": "wfr", "lr_a": 3e-4, "dt": 0.01,
                                   "t_end": 200.0}})
path = tempfile.mkdtemp() + "/deconvolution.h5"
res = pt.run(cfg, path, problem=prob)
cert = certificate(res.theta, prob)
print(f"sup |V| = {cert['value']:.6f} against reg = {prob.reg}: {cert['classification']}")

with pt.load(path) as run:
    plot_measure_paths(run)
    plot_deconvolution(run)
plt.show()
