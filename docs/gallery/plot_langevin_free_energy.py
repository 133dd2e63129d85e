"""
Free energy of a noisy run
==========================

The default teacher-student problem learnt at three temperatures with weight decay:
the free energy F_T = G - T H, the objective G and the particles' entropy H against time
(``particles plot --kind free-energy`` draws the same from run files).
"""
import tempfile

import particles as pt
from particles.viz.plotting import plot_free_energy

out = tempfile.mkdtemp()
paths = []
for T in (0.001, 0.003, 0.01):
    cfg = pt.Config(problem=pt.ProblemConfig(d=2, inputs="sphere", m0=3),
                    network=pt.NetworkConfig(m=64),
                    init=pt.InitConfig(tau=0.1, symmetric=True),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=40.0, temperature=T,
                                                   weight_decay=0.01),
                    record=pt.RecordConfig(kernel_probes=0), seed=1)
    paths.append(f"{out}/T{T}.h5")
    res = pt.run(cfg, paths[-1])
    print(f"T = {T}: risk {res.observables['risk'][-1]:.3g}, "
          f"free energy {res.observables['free_energy'][-1]:.3g}, "
          f"entropy {res.observables['entropy'][-1]:.3g} nats")

fig = plot_free_energy(paths)
