"""Pair expectations: closed forms against their SciPy twins, brute-force quadrature,
and the Price/Stein identities by finite differences."""
import math

import numpy as np
import pytest

import naive
from particles.registry import activation_code
from particles.kernels.pairs import gaussian_rules, pair

RULES = gaussian_rules(384)
CASES = [  # mu1, mu2, s1, s2, rho
    (0.0, 0.0, 1.3, 0.8, 0.4),
    (0.3, -0.7, 1.3, 0.8, 0.4),
    (-1.2, 0.4, 0.5, 2.0, -0.85),
    (0.8, 0.8, 1.1, 1.1, 1.0),   # a neuron with itself
    (0.5, -0.5, 0.9, 1.4, -1.0),
    (2.0, -1.0, 0.7, 0.6, 0.97),
]


def _pair(name, case, bias=True, leak=0.1):
    mu1, mu2, s1, s2, rho = case
    if not bias:
        mu1 = mu2 = 0.0
    return np.array(pair(activation_code(name), leak, bias, mu1, mu2, s1, s2, rho, *RULES))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "erf"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_closed_forms_against_scipy_twin(name, bias, case):
    mu1, mu2, s1, s2, rho = case
    if not bias:
        mu1 = mu2 = 0.0
    if name == "erf" and abs(rho) == 1.0 and bias:
        rho = math.copysign(0.999999, rho)
    got = np.array(pair(activation_code(name), 0.1, bias, mu1, mu2, s1, s2, rho, *RULES))
    ref = np.array(naive.closed_pair(name, mu1, mu2, s1, s2, rho, leak=0.1))
    # every entry against the twin, A1 of the bias-free cases included (erf: 0 by parity;
    # leaky relu: the four-relu sum, which Monte Carlo confirms)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["erf", "sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("case", CASES[:3] + CASES[5:])
def test_against_brute_force_quadrature(name, case):
    got = _pair(name, case)
    ref = np.array(naive.pair(name, *case, leak=0.1, nodes=400))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "erf", "tanh"])
@pytest.mark.parametrize("case", CASES[:3] + CASES[5:])
def test_against_monte_carlo(name, case, rng):
    """A0, A1, A11 against 10^6 samples; tolerance 5 standard errors."""
    mu1, mu2, s1, s2, rho = case
    n = 1_000_000
    g1, g2 = rng.standard_normal(n), rng.standard_normal(n)
    z1 = mu1 + s1 * g1
    z2 = mu2 + s2 * (rho * g1 + math.sqrt(1 - rho * rho) * g2)
    f = [naive.sigma(name, z, 0.1, k) for z in (z1, z2) for k in (0, 1)]
    samples = [f[0] * f[2], f[1] * f[2], f[1] * f[3]]
    got = _pair(name, case)[[0, 1, 3]]
    for g, smp in zip(got, samples):
        se = smp.std() / math.sqrt(n)
        # 1/n: the resolution of an estimate that saw no event at all
        np.testing.assert_allclose(g, smp.mean(), rtol=0, atol=5 * se + 1.0 / n)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "erf", "sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("case", CASES[:3] + CASES[5:])
def test_price_and_stein_identities(name, case):
    """A1 = dA0/dmu1, A20 = 2 dA0/ds11, A11 = dA0/ds12 (finite differences)."""
    mu1, mu2, s1, s2, rho = case
    code = activation_code(name)

    def a0(mu1, s11, s12):
        ss1 = math.sqrt(s11)
        return pair(code, 0.1, True, mu1, mu2, ss1, s2, s12 / (ss1 * s2), *RULES)[0]

    e = 1e-5
    s11, s12 = s1 * s1, rho * s1 * s2
    got = _pair(name, case)
    fd1 = (a0(mu1 + e, s11, s12) - a0(mu1 - e, s11, s12)) / (2 * e)
    fd20 = 2 * (a0(mu1, s11 + e, s12) - a0(mu1, s11 - e, s12)) / (2 * e)
    fd11 = (a0(mu1, s11, s12 + e) - a0(mu1, s11, s12 - e)) / (2 * e)
    np.testing.assert_allclose(got[1:], [fd1, fd20, fd11], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,pole", [("tanh", math.pi / 2), ("sigmoid", math.pi)])
@pytest.mark.parametrize("s", [0.5, 1.0, 2.0, 4.0])
def test_quadrature_accuracy_statement(name, pole, s):
    """The adaptive rule keeps the error near 1e-10 while 80 s / p <= 384 nodes."""
    case = (0.2, -0.3, s, 0.9 * s, 0.6)
    got = _pair(name, case)
    finer = gaussian_rules(1536)
    ref = np.array(pair(activation_code(name), 0.1, True, *case, *finer))
    assert 80 * s / pole <= 384  # premise guard: the cases lie where 384 nodes suffice
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_both_orders_from_one_evaluation(bias, case):
    """*_pair_both (relu, leaky relu, erf, quadrature): the primed quantities are the pair
    with z, z' swapped, from one evaluation."""
    from particles.kernels.pairs import (erf_pair, erf_pair_both, leaky_pair, leaky_pair_both,
        quadrature_pair, quadrature_pair_both, relu_pair, relu_pair_both)

    mu1, mu2, s1, s2, rho = case
    if not bias:
        mu1 = mu2 = 0.0
    rule = gaussian_rules(384)
    tanh = activation_code("tanh")
    for both, single in ((relu_pair_both, relu_pair),
                         (lambda *a: leaky_pair_both(*a, 0.1), lambda *a: leaky_pair(*a, 0.1)),
                         (erf_pair_both, erf_pair),
                         (lambda *a: quadrature_pair_both(tanh, 0.0, *a[:5], *rule),
                          lambda *a: quadrature_pair(tanh, 0.0, *a[:5], *rule))):
        a0, a11, a20, a20r, a1, a1r = both(mu1, mu2, s1, s2, rho, bias)
        f0, f1, f20, f11 = single(mu1, mu2, s1, s2, rho, bias)
        r0, r1, r20, r11 = single(mu2, mu1, s2, s1, rho, bias)
        np.testing.assert_allclose([a0, a11, a20, a1], [f0, f11, f20, f1], rtol=1e-14)
        np.testing.assert_allclose([a0, a11, a20r, a1r], [r0, r11, r20, r1], rtol=1e-12,
                                   atol=1e-15)
