"""The benchmark suite's --quick modes run and produce well-formed results.

Slow (minutes of timed runs): in the `slow` group, which CI runs apart
(`python -m pytest -m slow`).
"""
import json
import os

import h5py
import numpy as np
import pytest

from benchmarks import convergence, suite

pytestmark = pytest.mark.slow


def test_cost_quick(tmp_path):
    suite.cost(quick=True, out_dir=str(tmp_path), log=lambda *a: None)
    for name in ("cost-quick.json", "cost-quick.md", "cost-quick.png"):
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "cost-quick.json").read_text())
    assert data["matmul_gflops"]["float64"] > 0
    rows = data["rows"]
    assert {r["impl"] for r in rows} >= {"particles", "numpy", "numpy-closed-form"}
    for r in rows:
        assert r["s/step"] > 0 and np.isfinite(r["GFLOP/s"])
        if r["impl"] != "particles":
            assert r["agrees"], r  # every peer computes the same step
    assert {r["dtype"] for r in rows} == {"float64", "float32"}
    assert {r["threads"] for r in rows} >= {1, os.cpu_count()}
    assert data["targets"] and all("met" in t for t in data["targets"])
    assert data["memory"] and all(m["within bound"] for m in data["memory"])
    assert set(data["overhead_us"]) == {"compiled call", "advance, in a run's pool context",
                                        "advance, bare"}
    assert all(v > 0 for v in data["overhead_us"].values())
    f32 = [r for r in rows if r["dtype"] == "float32"]
    assert f32 and all(0 <= r["float32 risk rel. error"] < 1e-3 for r in f32)


def test_convergence_quick(tmp_path):
    summary = convergence.convergence(quick=True, out_dir=str(tmp_path), log=lambda *a: None)
    fits = summary["fits"]
    assert fits["function_distance"]["slope_high"] < 0  # one run approaches the limit
    assert fits["w2"]["slope"] < 0
    with h5py.File(tmp_path / "convergence-quick" / "runs-m" / "index.h5", "r") as f:
        ms = f["table/network.m"][:]
        assert set(ms) >= set(convergence.settings(True)["ms"])
        key = next(iter(f["runs"]))
        assert "particles" in f["runs"][key]  # external links resolve to run files
    for ext in ("png", "md", "json"):
        assert (tmp_path / f"convergence-quick.{ext}").stat().st_size > 0


def test_lazy_quick(tmp_path):
    from benchmarks import lazy

    ntk, rows = lazy.lazy_benchmark(quick=True, log=lambda *a: None, out_dir=str(tmp_path))
    assert ntk["gflops"] > 0 and ntk["matmul_gflops"] > 0
    slopes = {r["quantity"]: r["slope"] for r in rows}
    np.testing.assert_allclose(slopes["norm(w - w0)"], -1.0, atol=0.15)
    assert json.loads((tmp_path / "lazy-quick.json").read_text())["slopes"]


def test_langevin_quick(tmp_path):
    from benchmarks import langevin

    rows = langevin.langevin_benchmark(quick=True, out_dir=str(tmp_path), log=lambda *a: None)
    assert [r["case"] for r in rows] == [c["case"] for c in langevin.CASES]
    for r in rows:
        assert r["noiseless s/step"] > 0 and r["noisy s/step"] > 0 and r["ratio"] > 0
    data = json.loads((tmp_path / "langevin-quick.json").read_text())
    assert len(data["rows"]) == len(rows) and (tmp_path / "langevin-quick.md").stat().st_size


def test_deconvolution_quick(tmp_path):
    from benchmarks import deconvolution

    orows, srows = deconvolution.deconvolution_benchmark(quick=True, out_dir=str(tmp_path),
                                                         log=lambda *a: None)
    assert [r["case"] for r in orows] == [f"oracle m={m} K={deconvolution.K}"
                                         for m in deconvolution.ORACLE_SIZES]
    for r in orows:  # the compiled oracle and the NumPy closed form agree
        assert r["compiled s/call"] > 0 and r["max rel. difference"] < 1e-12
    assert [r["case"] for r in srows] == [c["case"] for c in deconvolution.STEP_CASES]
    assert all(r["ratio"] > 0 for r in srows)
    data = json.loads((tmp_path / "deconvolution-quick.json").read_text())
    assert len(data["oracle"]) == len(orows) and len(data["steps"]) == len(srows)


def test_polish_diagnosis_accounts_for_the_gradient_and_the_risk():
    # the polish benchmark's account of where L-BFGS stops: the Hessian's bands cover
    # every free coordinate, the gradient's shares add up to 1, the flat band holds the
    # known zero modes, and the risk's rounding is a few ulps of its terms
    import particles as pt
    from benchmarks.polish import diagnose
    from particles.analysis.optimality import for_simulation, polish

    cfg = pt.from_dict({"problem": {"d": 2, "inputs": "sphere", "m0": 2},
                        "network": {"m": 8}, "init": {"tau": 0.1, "symmetric": True},
                        "integrator": {"dt": 0.05, "t_end": 100.0}})
    sim = pt.Simulation(cfg)
    res = sim.run(keep=False)
    oracle = for_simulation(sim)["oracle"]
    pol = polish(res.theta, oracle, method="lbfgs", gtol=1e-10)
    why = diagnose(pol.theta, oracle)
    assert sum(b["count"] for b in why["bands"]) == why["free coordinates"] == 8 * 3
    np.testing.assert_allclose(sum(b["gradient share"] for b in why["bands"]), 1.0,
                               rtol=1e-12)
    assert why["bands"][0]["count"] >= why["known zero modes"] >= 8  # one rescaling each
    assert all(b["Newton decrease"] >= 0 for b in why["bands"][1:])
    assert 0 < why["risk rounding"] < 1e-14
