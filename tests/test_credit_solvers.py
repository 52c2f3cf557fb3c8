"""optbinning's solvers: OR-Tools (CP-SAT, BOP, CBC) and, through ropwr / cvxpy, OSQP and HiGHS import together."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    return x, (rng.random(2000) < 1 / (1 + np.exp(-2 * x))).astype(int)


def test_highspy_and_ortools_import_together():
    import cvxpy
    import highspy
    import ortools
    from ortools.sat.python import cp_model

    assert highspy.Highs() is not None and cp_model.CpModel() is not None and ortools.__version__
    assert "HIGHS" in cvxpy.installed_solvers()


@pytest.mark.parametrize("kw", [{"solver": "cp"}, {"solver": "mip", "mip_solver": "bop"},
                                {"solver": "mip", "mip_solver": "cbc"}])
def test_optimal_binning_solvers(xy, kw):
    from optbinning import OptimalBinning

    optb = OptimalBinning(monotonic_trend="ascending", **kw).fit(*xy)
    rates = optb.binning_table.build().iloc[:-3]["Event rate"].astype(float).to_numpy()
    assert optb.status == "OPTIMAL" and len(optb.splits) >= 2 and (np.diff(rates) >= 0).all()


@pytest.mark.parametrize("kw", [{"solver": "auto"}, {"solver": "osqp"},
                                {"solver": "highs", "objective": "l1"},
                                {"solver": "direct", "monotonic_trend": None}])
def test_piecewise_binning_solvers(xy, kw):
    from optbinning import OptimalPWBinning

    optb = OptimalPWBinning(**{"monotonic_trend": "ascending", **kw}).fit(*xy)
    assert optb.status == "OPTIMAL"
    p = optb.transform(np.linspace(-2, 2, 9), metric="event_rate")
    assert p[-1] > p[0]
