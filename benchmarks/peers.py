"""The same gradient step written the way users write it today (the peers).

Every peer implements one full-batch gradient step of the mean-field two-layer ReLU
network f(x) = (1/m) sum_i c_i relu(a_i . x) on a fixed sample (X, y), squared loss,
in mean-field time: theta <- theta - dt * m * grad F with F = mean((f - y)^2) / 2,
the update particles' Euler step makes with the `sampled` oracle. Each peer is a
factory ``make(X, y, theta0, dt, steps_per_call) -> (run, get)``: ``run()`` advances
``steps_per_call`` steps, ``get()`` returns the parameters as a NumPy (m, d + 2) array.

PyTorch and JAX are optional (``pip install -e '.[bench]'``; see benchmarks/README.md):
a missing one is skipped with a message.
"""
import numpy as np


def numpy_peer(X, y, theta0, dt, steps):
    """Plain vectorised NumPy: forward, residual, two matrix products per step."""
    X = np.ascontiguousarray(X)
    th = theta0.copy()
    m, d = th.shape[0], th.shape[1] - 2
    n = X.shape[0]

    def run():
        for _ in range(steps):
            a = th[:, 1:d + 1]
            Z = X @ a.T
            H = np.maximum(Z, 0)
            f = H @ th[:, 0] / m
            r = f - y
            vc = -(H.T @ r) / n
            G = (Z > 0) * r[:, None]
            va = -th[:, :1] * (G.T @ X) / n
            th[:, 0] += dt * vc
            th[:, 1:d + 1] += dt * va

    return run, lambda: th.copy()


def torch_peer(X, y, theta0, dt, steps):
    """PyTorch on the CPU with autograd (one backward per step)."""
    import torch

    dtype = torch.float64 if theta0.dtype == np.float64 else torch.float32
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    yt = torch.from_numpy(y.astype(theta0.dtype))
    m, d = theta0.shape[0], theta0.shape[1] - 2
    c = torch.tensor(theta0[:, 0], dtype=dtype, requires_grad=True)
    a = torch.tensor(theta0[:, 1:d + 1], dtype=dtype, requires_grad=True)

    def run():
        for _ in range(steps):
            f = torch.relu(Xt @ a.T) @ c / m
            loss = 0.5 * torch.mean((f - yt) ** 2)
            gc, ga = torch.autograd.grad(loss, (c, a))
            with torch.no_grad():
                c.sub_(dt * m * gc)
                a.sub_(dt * m * ga)

    def get():
        out = np.zeros_like(theta0)
        out[:, 0] = c.detach().numpy()
        out[:, 1:d + 1] = a.detach().numpy()
        return out

    return run, get


def jax_peer(X, y, theta0, dt, steps):
    """JAX: jit of a lax.scan over ``steps`` steps (many steps per compiled call)."""
    import jax

    if theta0.dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    m, d = theta0.shape[0], theta0.shape[1] - 2
    Xj = jnp.asarray(X)
    yj = jnp.asarray(y.astype(theta0.dtype))

    def loss(c, a):
        f = jax.nn.relu(Xj @ a.T) @ c / m
        return 0.5 * jnp.mean((f - yj) ** 2)

    grad = jax.grad(loss, argnums=(0, 1))

    def body(carry, _):
        c, a = carry
        gc, ga = grad(c, a)
        return (c - dt * m * gc, a - dt * m * ga), None

    @jax.jit
    def many(c, a):
        (c, a), _ = jax.lax.scan(body, (c, a), None, length=steps)
        return c, a

    state = [jnp.asarray(theta0[:, 0]), jnp.asarray(theta0[:, 1:d + 1])]

    def run():
        c, a = many(*state)
        c.block_until_ready()
        state[0], state[1] = c, a

    def get():
        out = np.zeros_like(theta0)
        out[:, 0] = np.asarray(state[0])
        out[:, 1:d + 1] = np.asarray(state[1])
        return out

    return run, get


PEERS = {"numpy": numpy_peer, "torch": torch_peer, "jax": jax_peer}


def available():
    """Names of the peers whose library imports, and messages for the others."""
    names, missing = ["numpy"], {}
    for name in ("torch", "jax"):
        try:
            __import__(name)
            names.append(name)
        except ImportError:
            missing[name] = (f"{name} is not installed; skipped (pip install -e '.[bench]' "
                             "installs the CPU builds, see benchmarks/README.md)")
    return names, missing


def numpy_exact_relu(theta, teacher, dt, steps):
    """The exact (closed-form) bias-free ReLU oracle written in vectorised NumPy:
    full (m + m0)^2 matrices, arc-cosine kernel, Euler steps."""
    th = theta.copy()
    m, d = th.shape[0], th.shape[1] - 2

    def run():
        for _ in range(steps):
            A = np.vstack([th[:, 1:d + 1], teacher[:, 1:d + 1]])
            w = np.concatenate([th[:, 0] / m, -teacher[:, 0]])
            nrm = np.linalg.norm(A, axis=1)
            G = A @ A.T
            rho = np.clip(G / np.outer(nrm, nrm), -1, 1)
            np.fill_diagonal(rho, 1.0)
            r = np.sqrt(np.maximum(1 - rho ** 2, 0))
            pmt = np.pi - np.arctan2(r, rho)
            K = np.outer(nrm, nrm) * (r + pmt * rho) / (2 * np.pi)
            A11 = pmt / (2 * np.pi)
            A20 = r[:m] / (2 * np.pi) * nrm[None, :] / nrm[:m, None]
            vc = -(K[:m] @ w)
            va = -th[:, :1] * ((A20[:m] @ w)[:, None] * A[:m] + (A11[:m] * w) @ A)
            th[:, 0] += dt * vc
            th[:, 1:d + 1] += dt * va

    return run, lambda: th.copy()
