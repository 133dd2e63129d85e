"""Write tests/data/neural_tangents_kernels.npz: infinite-width NNGP and NTK kernels of
fully connected relu and erf networks computed by neural-tangents, the reference that
tests/test_lazy.py checks ``particles.lazy.infinite_kernels`` against without needing
neural-tangents installed.

Run in an environment with neural-tangents (0.6.5 was used, with jax 0.4.30)::

    python tests/data/make_neural_tangents.py
"""
import os

import numpy as np

CASES = [(act, depth, b_std) for act in ("relu", "erf") for depth, b_std in ((1, 0.0), (3, 0.2))]
W_STD = 1.5


def main():
    import jax
    import neural_tangents as nt
    from jax import config as jax_config

    jax_config.update("jax_enable_x64", True)
    rng = np.random.default_rng(12)
    x1, x2 = rng.standard_normal((5, 6)), rng.standard_normal((4, 6))
    out = {"x1": x1, "x2": x2, "w_std": W_STD,
           "versions": np.array([f"neural-tangents {nt.__version__}", f"jax {jax.__version__}"])}
    for act, depth, b_std in CASES:
        layer = {"relu": nt.stax.Relu, "erf": nt.stax.Erf}[act]
        layers = []
        for _ in range(depth):
            layers += [nt.stax.Dense(64, W_std=W_STD, b_std=b_std), layer()]
        layers.append(nt.stax.Dense(1, W_std=W_STD, b_std=b_std))
        ref = nt.stax.serial(*layers)[2](x1, x2, ("nngp", "ntk"))
        key = f"{act}_depth{depth}_b{b_std}"
        out[f"nngp_{key}"] = np.asarray(ref.nngp, dtype=np.float64)
        out[f"ntk_{key}"] = np.asarray(ref.ntk, dtype=np.float64)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "neural_tangents_kernels.npz")
    np.savez(path, **out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
