"""-Lap u = f on the unit disk (Dirichlet): convergence order and position gradients.

Uses the worked example ``examples/poisson_disk.py`` (node generation, manufactured
solution ``u = sin(2x + 1) cos(3y)``). The RBF-FD Laplacian with polynomial degree p
is consistent to order p - 1; the measured solution errors must decay at least that
fast (they decay faster: ~2 for PHS3/p=2, ~2-2.5 for PHS5/p=3).
"""

import importlib.util
from pathlib import Path

import jax.numpy as jnp
import pytest

import rbfopt  # noqa: F401  (float64)
from rbfopt.basis import PHS
from rbfopt.stencils import autoselect_k, find_neighbors
from rbfopt.testing import check_rules

_spec = importlib.util.spec_from_file_location(
    "poisson_disk", Path(__file__).resolve().parents[2] / "examples" / "poisson_disk.py"
)
pd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pd)


def _order(basis, ns=(400, 1600)):
    rms = [pd.solve_errors(n, basis)[1] for n in ns]
    return pd.observed_orders(list(ns), rms)[0], rms


def test_convergence_phs3_deg2():
    order, rms = _order(PHS(3, poly_deg=2))
    assert rms[-1] < 5e-3, rms
    assert order > 1.5, (order, rms)  # consistency order p - 1 = 1; observed ~1.9


@pytest.mark.slow
def test_convergence_phs5_deg3():
    order, rms = _order(PHS(5, poly_deg=3))
    assert rms[-1] < 1e-3, rms
    assert order > 1.8, (order, rms)  # consistency order p - 1 = 2; observed ~2.5


def test_error_gradient_wrt_nodes():
    """d(rms error)/d(node positions) through weights, assembly and the SuperLU solve,
    in forward and reverse mode, against finite differences."""
    p, nb = pd.disk_nodes(150)
    basis = PHS(3, poly_deg=2)
    adjl = find_neighbors(p, autoselect_k(2, 2))
    err = pd.rms_error(jnp.asarray(p), nb, adjl, basis)
    assert 1e-4 < float(err) < 1e-1
    check_rules(lambda q: pd.rms_error(q, nb, adjl, basis), jnp.asarray(p), rtol=1e-5)
