"""The family objective of a node-layout study and its smooth movement: the loss is the
mean of the members' log errors (each member checked against a one-member study), its
gradient against finite differences in both modes, the smooth movement keeps nodes
inside and on their boundary groups, and bad ``discretizations`` are clear errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.studies import Discretization, family
from rbfopt.studies._robustness import held_out

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]


def u_exact(x):
    return jnp.exp(-jnp.sum((x - 0.35) ** 2) / 0.05) + x[0] * x[1]


@pytest.fixture(scope="module")
def square():
    return ro.geometry.Polygon(SQUARE, groups={"bottom": [0], "left": [3]})


def study(square, **kw):
    flux = ro.Neumann(lambda x, n: jnp.dot(jax.grad(u_exact)(x), n))
    bcs = {"bottom": flux, "left": ro.Dirichlet(u_exact), "outer": ro.Dirichlet(u_exact)}
    return ro.studies.node_layout(
        square, source=lambda x: jnp.trace(jax.hessian(u_exact)(x)), bcs=bcs,
        objective="exact", exact=u_exact, **{"n": 150, **kw},
    )  # fmt: skip


def value(prob, p):
    return float(prob.loss(p, prob.restencil(p))[0])


@pytest.fixture(scope="module")
def pair(square):
    """A two-member family and its first member alone (no barrier: the loss is the
    errors; the second member's solve, preconditioned by the first's factors, to
    rounding)."""
    kw = dict(mu=0.0, solver_tol=1e-15)
    both = study(square, discretizations=[12, {"k": 18, "blend": 2}], **kw)
    return both, study(square, discretizations=[12], **kw)


def test_loss_is_the_mean_of_the_members_log_errors(pair):
    # every member's solution (its own system, SuperLU) read at the targets through
    # the first member's interpolation (plain k = 12 weights, built here)
    both, first = pair
    p = both.init()
    lay = both.loss.__self__
    x, aux = lay.nodes(p), both.restencil(p)
    y = np.asarray(lay.y)
    adjl = ro.find_neighbors(np.asarray(x), 12, y)
    w = np.asarray(ro.build_weights(ro.Identity(), x, y, adjl, ro.PHS(3, poly_deg=2)))
    errs = []
    for i in range(2):
        u = np.asarray(ro.linsolve(*lay.system(x, aux.adjl, i), "direct"))
        errs.append(np.sqrt(np.mean((np.sum(w * u[adjl], axis=1) - np.asarray(lay.u_y)) ** 2)))
    assert value(both, p) == pytest.approx(np.mean(np.log(errs)), rel=1e-12)
    assert value(first, p) == pytest.approx(np.log(errs[0]), rel=1e-12)
    metrics = both.loss(p, both.restencil(p))[1]
    assert set(metrics) >= {"rms_k12", "rms_k18_taper", "min_spacing_ratio"}
    geo = np.exp(np.mean(np.log([metrics["rms_k12"], metrics["rms_k18_taper"]])))
    assert float(metrics["objective_rms"]) == pytest.approx(geo, rel=1e-12)


def test_family_gradient_matches_finite_differences(square):
    # two plain members (one nested weight build, the second solve preconditioned by
    # the first's factors) and a tapered one (its own build)
    prob = study(square, discretizations=[12, 14, {"k": 16, "blend": 2}])
    # jittered: blended weights have a kink where two neighbours are exactly equidistant,
    # as evenly spaced boundary nodes are from points of the regular evaluation grid
    rng = np.random.default_rng(0)
    p0 = prob.init()["points"]
    p = prob.project({"points": p0 + rng.normal(0, 0.02, p0.shape)})
    aux = prob.restencil(p)
    ro.testing.check_rules(
        lambda pts: prob.loss({"points": pts}, aux)[0], p["points"], rtol=1e-5, eps=1e-6
    )


def test_shared_builds_and_near_solves_match_separate_ones(square):
    # three plain members: one nested weight build per row set, one factorization;
    # each member's matrix and solution against its own build and SuperLU solve
    lay = study(square, discretizations=[16, 12, 20]).loss.__self__
    assert len(lay.shared) == 3
    x = lay.nodes(lay.init())
    aux = lay.restencil(lay.init())
    shared = lay.systems(x, aux.adjl)
    for i, ((A, rhs), u) in enumerate(zip(shared, lay.solutions(x, aux), strict=True)):
        A1, rhs1 = lay.system(x, aux.adjl, i)
        scale = float(jnp.max(jnp.abs(A1.values)))
        np.testing.assert_allclose(A.values, A1.values, rtol=0, atol=1e-9 * scale)
        np.testing.assert_array_equal(A.adjl, A1.adjl)
        np.testing.assert_array_equal(rhs, rhs1)
        ref = np.asarray(ro.linsolve(A1, rhs1, "direct"))
        assert np.linalg.norm(np.asarray(u) - ref) <= 1e-8 * np.linalg.norm(ref)


def test_smooth_gradient_matches_finite_differences(square):
    # one member: the family's rules are checked above; here the field's
    prob = study(square, discretizations=[12], movement="smooth")
    p = prob.init()
    field = p["field"] + 0.05 * jax.random.normal(jax.random.PRNGKey(0), p["field"].shape)
    aux = prob.restencil({"field": field})
    ro.testing.check_rules(lambda f: prob.loss({"field": f}, aux)[0], field, rtol=1e-5, eps=1e-6)


def test_smooth_movement_keeps_nodes_inside_and_on_their_groups(square):
    prob = study(square, discretizations=[12], movement="smooth", n=300)
    st = prob.init.__self__
    x0 = np.asarray(st.nodes(prob.init()))
    assert np.allclose(x0, st.start.points, atol=1e-12)  # a zero field moves nothing
    rng = np.random.default_rng(1)
    field = jnp.asarray(rng.normal(0.0, 1.5, prob.init()["field"].shape))
    x = np.asarray(st.nodes(prob.project({"field": field})))
    assert np.max(np.abs(x - x0)) > 0.5 * st.h  # the field did move the nodes
    kind = st.start.kind
    sdf = np.asarray(square.sdf(jnp.asarray(x)))
    assert np.all(sdf[kind == 0] < -0.2 * st.h)  # interior nodes inside, off the boundary
    assert np.all(np.abs(sdf[kind != 0]) < 1e-12)  # boundary nodes on the boundary
    group = np.asarray(square.closest(jnp.asarray(x[kind == 1]))[2])
    assert np.array_equal(group, st.start.group[kind == 1])  # ... of their own group
    assert np.allclose(x[kind == 2], x0[kind == 2])  # corners fixed


@pytest.mark.parametrize(
    "discretizations, match",
    [
        ("16,20", r"discretizations: expected a sequence"),
        ([], r"discretizations: the family is empty"),
        ([16, "big"], r"discretizations\[1\]: expected a stencil size"),
        ([16, 2.5], r"discretizations\[1\]: expected a stencil size"),
        ([16, {"k": 20, "size": 3}], r"discretizations\[1\]: unknown fields \['size'\]"),
        ([{"blend": 0}], r"discretizations\[0\]: needs the stencil size 'k'"),
        ([16, {"k": 20, "blend_kind": "mean"}], r"discretizations\[1\]: blend_kind: expected"),
        ([16, 20, 16], r"discretizations\[2\]: repeats discretizations\[0\]"),
        ([16, 4], r"discretizations\[1\]: k=4 is below the 6 terms"),
        ([16, 400], r"discretizations\[1\]: k=400 plain reads 400 neighbours, more than the"),
        ([{"k": 16, "basis": "phs3"}], r"discretizations\[0\]: basis: expected an rbfopt"),
    ],
)
def test_bad_discretizations(square, discretizations, match):
    with pytest.raises(ValueError, match=match):
        study(square, discretizations=discretizations)


def test_bad_movement(square):
    with pytest.raises(ValueError, match="movement: expected one of"):
        study(square, discretizations=[12], movement="grid")


def test_default_family_and_held_out_family():
    assert [d.k for d in family(None, 16)] == [16, 12, 20, 24, 30]
    assert all(d.blend == 0 for d in family(None, 16))  # plain, as other codes build them
    basis = ro.PHS(3, poly_deg=2)
    held = held_out(basis, 2, 1000)
    assert [d.k for d in held] == [12, 14, 18, 22, 27, 34, 24]
    assert all(d.blend == 0 for d in held)
    assert held[-1].basis.poly_deg == 3
    # members of the study's family are not held out; in 3-D quadratics need k > 10
    assert [d.k for d in held_out(basis, 2, 1000, family([18, 22], 16))] == [12, 14, 27, 34, 24]
    assert [d.k for d in held_out(basis, 3, 30)] == [12, 14, 18, 22, 27]
    assert Discretization(20, 0) != Discretization(20, 2)


# slow (~90 s of CI's 14 min): two study builds and reports; the held-out table itself
# runs in CI through test_cli_studies.py
@pytest.mark.slow
def test_held_out_table_matches_a_one_member_study(square):
    """The held-out k = 12 entry of a k = 16 study is the true error that a study of the
    k = 12 discretization alone reports for the same start (two code paths)."""
    alone = study(square, discretizations=[12], held_out=False).report
    other = study(square, discretizations=[{"k": 16, "blend": 2}])
    p = other.init()
    rob = other.report(p)["robustness"]
    i = rob["discretizations"].index("k=12 plain")
    assert rob["initial"][i] == pytest.approx(alone(p)["true_rms_error_initial"], rel=1e-9)
    assert rob["factor"][i] == pytest.approx(1.0, rel=1e-12)  # p is the start itself
