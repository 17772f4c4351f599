"""A known solution checked against the form the study solves (L u = source and each
condition); the global solve resolved once, whatever linsolve's own "auto" would pick;
and the studies room importing nothing from the application."""

from __future__ import annotations

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro

SQUARE_TWO_HOLES = ro.geometry.Polygon(
    [[0, 0], [1, 0], [1, 1], [0, 1]],
    holes=[
        [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.4]],
        [[0.6, 0.6], [0.8, 0.6], [0.8, 0.8], [0.6, 0.8]],
    ],
)


def u(x):
    return jnp.sin(3 * x[0]) * jnp.cos(2 * x[1]) + x[0] ** 2


def lap_u(x):
    return jnp.trace(jax.hessian(u)(x))


def study(**kw):
    bcs = {g: ro.Dirichlet(u) for g in SQUARE_TWO_HOLES.group_names}
    args = dict(source=lap_u, bcs=bcs, n=300, objective="exact", exact=u, blend=0)
    # one member, no held-out family: the checks, the solve and the verdict are tested here
    args.update(discretizations=[16], held_out=False)
    return ro.studies.node_layout(SQUARE_TWO_HOLES, **{**args, **kw})


def test_flipped_sign_is_refused_with_the_form():
    # the user writes Poisson as -Δu = f and passes source = -Δu: the study solves
    # Δu = source, so u_exact is not its solution
    with pytest.raises(ValueError, match=r"source: L u_exact differs from source") as e:
        study(source=lambda x: -lap_u(x))
    assert "L u = source" in str(e.value) and "source = -f" in str(e.value)


def test_wrong_condition_data_is_refused_naming_the_group():
    bcs = {g: ro.Dirichlet(u) for g in SQUARE_TWO_HOLES.group_names}
    bcs["hole1"] = ro.Dirichlet(lambda x: u(x) + 1.0)
    with pytest.raises(ValueError, match=r"bcs\['hole1'\]: the Dirichlet condition"):
        study(bcs=bcs)


def test_neumann_sign_is_checked():
    # n . grad u with the outward normal: the inward flux is the other condition
    flux = lambda x, n: jnp.dot(jax.grad(u)(x), n)  # noqa: E731
    bcs = {g: ro.Dirichlet(u) for g in SQUARE_TWO_HOLES.group_names}
    study(bcs={**bcs, "hole0": ro.Neumann(flux)})  # the right form builds
    with pytest.raises(ValueError, match=r"bcs\['hole0'\]: the Neumann condition"):
        study(bcs={**bcs, "hole0": ro.Neumann(lambda x, n: -flux(x, n))})


def test_direct_stays_direct_where_linsolve_auto_would_pick_krylov(monkeypatch):
    """solver='direct' is resolved once and passed to linsolve, which would otherwise
    pick Krylov on its own "auto" above AUTO_DIRECT_MAX (or on an accelerator)."""
    import rbfopt.sparse.solve as solve_module
    import rbfopt.studies._precond as precond

    monkeypatch.setattr(solve_module, "AUTO_DIRECT_MAX", 10)
    methods = []
    real = precond.linsolve

    def spy(A, b, method="auto", **kw):
        methods.append(method)
        return real(A, b, method, **kw)

    monkeypatch.setattr(precond, "linsolve", spy)
    prob = study(solver="direct")
    p = prob.init()
    value = prob.loss(p, prob.restencil(p))[0]
    assert methods and set(methods) == {"direct"}
    assert np.isfinite(float(value))


def test_studies_import_nothing_from_the_app():
    room = pathlib.Path(ro.studies.__file__).parent
    for path in room.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = ("." * node.level) + (node.module or "")
                assert not target.startswith(("..app", "rbfopt.app")), (path.name, target)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("rbfopt.app") for a in node.names), path.name


@pytest.mark.parametrize("refine, degree, converged", [(1.2, 2, False), (4.0, 4, True)])
def test_report_says_whether_the_reference_carries_the_factor(refine, degree, converged):
    """A coarse reference (h / 1.2, PHS3 + quadratics as the study) cannot carry a claimed
    factor, a fine one (h / 4, PHS5 + quartics)
    can; the verdict's error estimate bounds the gap between the objective and the
    true error (triangle inequality), checked against the known solution."""
    basis = ro.PHS(2 * degree - 1, poly_deg=degree)
    prob = study(n=150, objective="reference", reference_refine=refine, reference_basis=basis)
    rep = prob.report(prob.init())
    assert rep["reference_converged"] is converged
    assert ("NOT converged" in rep["reference_verdict"]) is not converged
    assert f"reference_refine={2 * refine:g}" in rep["reference_verdict"] or converged
    gap = abs(rep["objective_rms_initial"] - rep["rms_error_initial"])
    assert gap <= 2 * rep["reference_error_estimate"]
    assert rep["guaranteed_factor"] <= rep["error_reduction_factor"]


def test_krylov_failure_names_the_study_option(monkeypatch):
    """A study's Krylov solve that misses its tolerance says how to change the study
    (solver='direct', -O solver=direct), not linsolve's own arguments."""
    import rbfopt.sparse.solve as solve_module
    from rbfopt.studies._precond import solve

    t = np.linspace(0.0, 1.0, 12)
    x = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
    edge = np.flatnonzero((x == 0).any(1) | (x == 1).any(1))
    inner = np.setdiff1d(np.arange(len(x)), edge)
    A = ro.assemble(x, ro.Laplacian(), interior=inner, dirichlet=edge)
    rhs = np.where(np.isin(np.arange(len(x)), edge), x[:, 0], 1.0)
    monkeypatch.setattr(solve_module, "default_maxiter", lambda n: 1)  # Jacobi, one step
    with pytest.raises(ValueError, match=r"did not converge.*pass solver='direct' to the study"):
        solve(A, rhs, "krylov", ro.studies.LayoutOptions())
