"""
A network and its tangent twin
===============================

The same 2-D problem from a small and a large initial scale, each run next to its
linearisation around the initial particles (``particles.lazy.run_twin``). From the
large scale the network stays within a small distance of its tangent model: it trains
like a kernel method.
"""
import tempfile

import matplotlib.pyplot as plt

import particles as pt
from particles import lazy
from particles.viz import plotting

base = pt.Config(problem=pt.ProblemConfig(d=2, inputs="sphere", m0=3,
                                          teacher_output="random_sign"),
                 network=pt.NetworkConfig(m=16, scaling="standard"),
                 init=pt.InitConfig(scheme="sphere", symmetric=True),
                 oracle=pt.OracleConfig(kind="sampled", n=15, n_monitor=200),
                 integrator=pt.IntegratorConfig(dt=0.08, t_end=800.0),
                 record=pt.RecordConfig(frames=60))
tmp = tempfile.mkdtemp()
paths = []
for tau in (0.1, 2.0):
    cfg = base.replace(init=base.init.replace(tau=tau))
    full, tangent, gap = lazy.run_twin(cfg, f"{tmp}/tau{tau:g}.h5")
    print(f"tau = {tau:g}: test loss {full.observables['test_risk'][-1]:.3g}, tangent twin "
          f"{tangent.observables['test_risk'][-1]:.3g}, final gap {gap['gap'][-1]:.3g}")
    paths.append(f"{tmp}/tau{tau:g}.h5")

runs = [pt.load(p) for p in paths]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), layout="constrained")
plotting.plot_lazy(runs, axes=axes)
for r in runs:
    r.close()
