"""ro.studies.node_layout: the assembled system against manufactured solutions (mixed
Dirichlet / Neumann / Robin groups, convergence under refinement), the reference
objective against the exact one, and the argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.studies import Dirichlet, Neumann, Robin

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]


def u_exact(x):
    return jnp.sin(2 * x[0]) * jnp.exp(x[1]) + x[0] * x[1]


def lap_u(x):
    return jnp.trace(jax.hessian(u_exact)(x))


def flux(x, n):
    return jnp.dot(jax.grad(u_exact)(x), n)


def robin_data(x, n):
    return 2.0 * u_exact(x) + flux(x, n)


@pytest.fixture(scope="module")
def square():
    # edges: 0 bottom, 1 right, 2 top, 3 left
    return ro.geometry.Polygon(SQUARE, groups={"bottom": [0], "right": [1], "left": [3]})


def mixed(square, n, **kw):
    # plain weights (blend=0) unless a test says otherwise, here and below: half the
    # compile time; the blended studies run in tests/app/test_problems.py and the
    # blend itself is tested in tests/fd/test_blend.py
    kw = {"blend": 0, "discretizations": [16], **kw}
    bcs = {
        "bottom": Neumann(flux),
        "right": Robin(2.0, 1.0, robin_data),
        "left": Dirichlet(u_exact),
        "outer": Dirichlet(u_exact),
    }
    return ro.studies.node_layout(
        square, source=lap_u, bcs=bcs, n=n, objective="exact", exact=u_exact, **kw
    )


def initial_error(prob):
    p = prob.init()
    return float(prob.loss(p, prob.restencil(p))[1]["rms_error"])


# slow (~26 s): convergence rates also in tests/fd/test_poisson.py
@pytest.mark.slow
def test_dirichlet_and_robin_converge(square):
    # the discrete solution approaches the manufactured one at about the order of
    # PHS3 + quadratics (2) as the node count grows 4x (h halves)
    bcs = {
        "bottom": Dirichlet(u_exact),
        "right": Robin(2.0, 1.0, robin_data),
        "left": Dirichlet(u_exact),
        "outer": Dirichlet(u_exact),
    }

    def err(n):
        return initial_error(
            ro.studies.node_layout(
                square, source=lap_u, bcs=bcs, n=n, objective="exact", exact=u_exact, blend=0
            )
        )

    e1, e2 = err(300), err(1200)
    assert e2 < 5e-4 and np.log(e1 / e2) / np.log(2.0) > 1.5


def test_neumann_rows_are_second_order_consistent(square):
    # the Neumann rows applied to the exact solution leave a residual O(h^2)
    def residual(n):
        ns = ro.nodes.generate(square, ro.nodes.spacing_for(square, n))
        x = jnp.asarray(ns.points)
        adjl = jnp.asarray(ro.find_neighbors(ns.points, 16))
        r = np.flatnonzero((ns.kind != 0) & (ns.group == square.group_id("bottom")))
        g = ro.build_weights(ro.Gradient(), x, x[r], adjl[r], ro.PHS(3, poly_deg=2))
        nrm = jnp.asarray(ns.normals)[r]
        u = jax.vmap(u_exact)(x)
        res = jnp.sum(jnp.einsum("mkd,md->mk", g, nrm) * u[adjl[r]], 1) - jax.vmap(flux)(x[r], nrm)
        return float(jnp.max(jnp.abs(res)))

    assert np.log(residual(300) / residual(1200)) / np.log(2.0) > 1.5


# slow (~33 s on a 2-core Xeon): Neumann rows are covered by
# test_neumann_rows_are_second_order_consistent and the CLI study with a hole
@pytest.mark.slow
def test_mixed_with_neumann_is_accurate(square):
    # with a Neumann group the global error still falls as the nodes refine (its order
    # is lower, ~1 here: one-sided derivative rows)
    e1, e2 = initial_error(mixed(square, 300)), initial_error(mixed(square, 1200))
    assert e2 < e1 < 3e-3


# slow (~17 s): the reference objective's figures are in results/README.md
@pytest.mark.slow
def test_reference_objective_close_to_exact(square):
    exact = mixed(square, 300)
    ref = ro.studies.node_layout(
        square,
        source=lap_u,
        bcs=dict(
            bottom=Neumann(flux),
            right=Robin(2.0, 1.0, robin_data),
            left=Dirichlet(u_exact),
            outer=Dirichlet(u_exact),
        ),
        n=300,
        blend=0,
        objective="reference",
        exact=u_exact,
        reference_refine=3.0,  # cheaper than the default 4: 9x the nodes
    )
    p = ref.init()
    m = ref.loss(p, ref.restencil(p))[1]
    # the reference (9x the nodes, PHS5 + quartics) is far more accurate than the
    # coarse solution, so its difference from it is about the true error
    assert abs(float(m["objective_rms"]) / float(m["rms_error"]) - 1) < 0.1
    assert abs(float(m["rms_error"]) / initial_error(exact) - 1) < 0.5


# slow (~18 s): report and mesh also written by tests/studies/test_cli_studies.py
@pytest.mark.slow
def test_report_and_mesh(square):
    # (the optimization loop of builder studies runs in tests/app/test_problems.py and
    # tests/studies/test_cli_studies.py)
    prob = mixed(square, 200, name="mixed")
    p = prob.init()
    rep = prob.report(p)
    assert rep["objective"] == "exact" and rep["n_nodes"] == len(p["points"])
    assert rep["error_reduction_factor"] == 1.0  # the same parameters twice
    assert 0 < rep["true_rms_error_initial"] < 0.05
    mesh = prob.to_mesh(p)
    assert {"u_h", "u_exact", "error", "kind", "group"} <= set(mesh.point_data)
    assert np.allclose(
        mesh.point_data["error"], mesh.point_data["u_h"] - mesh.point_data["u_exact"]
    )


# slow (~13 s): sums and Custom operators also in tests/core/test_operators.py
@pytest.mark.slow
def test_operator_sum_and_custom(square):
    # -Laplacian u + u = f, as a sum of operator descriptions
    op = ro.Laplacian() * -1.0 + ro.Identity()
    prob = ro.studies.node_layout(
        square,
        source=lambda x: -lap_u(x) + u_exact(x),
        bcs={g: Dirichlet(u_exact) for g in square.group_names},
        operator=op,
        n=400,
        blend=0,
        objective="exact",
        exact=u_exact,
    )
    assert initial_error(prob) < 5e-3


def test_krylov_value_and_gradient_match_direct(square):
    """At one layout the Krylov study (BiCGStab + AMG, mixed Dirichlet / Neumann /
    Robin rows: a nonsymmetric system) has SuperLU's loss to its 1e-10 solves and
    gradient to its looser adjoint solves (``adjoint_tol``, 1e-6). A hierarchy set up
    again after the nodes moved (``amg_every=1``) keeps its shapes (the driver's
    jitted step takes it as an argument)."""
    two = [16, 20]  # a family: one hierarchy per member
    direct = mixed(square, 300, blend=0, solver="direct", discretizations=two)
    krylov = mixed(square, 300, blend=0, solver="krylov", amg_every=1, discretizations=two)
    p = direct.init()
    got = {}
    for name, prob in (("direct", direct), ("krylov", krylov)):
        vg = jax.jit(jax.value_and_grad(lambda q, a, prob=prob: prob.loss(q, a)[0]))
        got[name] = vg(p, prob.restencil(p))
    (v_d, g_d), (v_k, g_k) = got["direct"], got["krylov"]
    assert abs(float(v_k - v_d)) < 1e-9 * abs(float(v_d))
    g_d, g_k = np.asarray(g_d["points"]), np.asarray(g_k["points"])
    assert np.max(np.abs(g_k - g_d)) < 1e-4 * np.max(np.abs(g_d))
    moved = {"points": p["points"] - 0.2 * g_k / np.max(np.abs(g_k))}
    first, again = krylov.restencil(p).precond, krylov.restencil(moved).precond
    assert len(first) == 2 and first[1].fine_t[0].shape != first[0].fine_t[0].shape
    first, again = first[0], again[0]
    assert not np.array_equal(np.asarray(first.fine_t[0]), np.asarray(again.fine_t[0]))

    def shapes(tree):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        return treedef, [np.shape(a) for a in leaves]

    assert shapes(again) == shapes(first)


@pytest.mark.slow
def test_krylov_path_matches_direct(square):
    """Five steps on Krylov and on SuperLU take the same path, with all solves at
    1e-10 (Adam amplifies gradient differences along a trajectory); ``amg_every=2``
    carries the hierarchy over between set-ups."""
    runs = {}
    for solver in ("direct", "krylov"):
        prob = mixed(square, 400, blend=0, solver=solver, amg_every=2, adjoint_tol=1e-10)
        runs[solver] = ro.optimize.run(
            prob, "adam", 5, lr=0.02, restencil_every=1, progress=False
        )  # fmt: skip
    d, k = runs["direct"], runs["krylov"]
    loss_d = np.array([r["loss"] for r in d.history])
    loss_k = np.array([r["loss"] for r in k.history])
    assert np.max(np.abs(loss_k - loss_d) / np.abs(loss_d)) < 1e-8  # issue 17's bound
    pd, pk = np.asarray(d.last_params["points"]), np.asarray(k.last_params["points"])
    assert np.max(np.abs(pk - pd)) < 1e-8 * np.max(np.abs(pd))
    stats = prob.solve_stats(k.last_params)
    assert 0 < int(stats["solve_iterations"]) < 60 and 0 < int(stats["adjoint_iterations"]) < 60


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(bcs={"nope": Dirichlet(0.0)}), r"bcs: unknown boundary groups \['nope'\]"),
        (dict(bcs={"bottom": Dirichlet(0.0)}), r"bcs: no condition for the boundary groups"),
        (
            dict(bcs={g: Neumann(0.0) for g in ("bottom", "right", "left", "outer")}),
            "every group has a Neumann condition",
        ),
        (dict(source=lambda x: x), r"source: must return one value per point"),
        (dict(source=lambda x: jnp.log(x[0] - 0.5)), r"source: NaN or inf at nodes"),
        (dict(objective="exact"), "exact: objective='exact' needs"),
        (dict(objective="best"), "objective: expected"),
        (dict(max_reference_nodes=100), r"reference: the reference node set"),
        (dict(barrier=1.0), r"options: unknown study options \[.barrier.\]"),
        (dict(n=100, spacing=0.1), "n, spacing: give one"),
        (dict(solver="lu"), "solver: expected 'auto', 'direct' or 'krylov'"),
        (dict(amg_every=0), "amg_every: .* must be an integer >= 1"),
        (dict(solver_tol=0.0), r"solver_tol: must be in \(0, 1\)"),
        (dict(blend_kind="mean"), "blend_kind: expected 'sizes' or 'taper'"),
        (dict(blend=3, blend_kind="taper"), r"blend_kind: 'taper' spans two stencil sizes"),
    ],
)
def test_bad_input(square, kwargs, match):
    args = dict(source=lap_u, bcs={g: Dirichlet(u_exact) for g in square.group_names}, n=100)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ro.studies.node_layout(square, **args)


def _cube_with_x0_face():
    v = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    tri = np.array([t for a, b, c, d in quads for t in ([a, b, c], [a, c, d])])
    return ro.geometry.Surface(v, tri, groups={"x0": [0, 1]})  # quad 0: the face x = 0


def _cube_study(u, n):
    return ro.studies.node_layout(
        _cube_with_x0_face(),
        source=lambda x: jnp.trace(jax.hessian(u)(x)),
        bcs={"x0": Neumann(lambda x, nrm: jnp.dot(jax.grad(u)(x), nrm)), "outer": Dirichlet(u)},
        n=n,
        objective="exact",
        exact=u,
        blend=0,
    )


# slow (~12 s): 3-D studies also in test_3d_converges and tests/app/test_solver_mesh.py
@pytest.mark.slow
def test_3d_quadratic_is_exact():
    # PHS3 + quadratics reproduce quadratics: the Laplacian, Neumann and Dirichlet rows
    # and the interpolation are exact, so the discrete solution is u itself
    def u(x):
        return x[0] ** 2 + 2 * x[1] ** 2 - 3 * x[2] ** 2 + x[0] * x[1] + x[2]

    assert initial_error(_cube_study(u, 300)) < 1e-9


@pytest.mark.slow
def test_3d_converges():
    def u(x):
        return jnp.sin(x[0]) * jnp.exp(x[1]) + x[2] ** 2

    # the error falls at least linearly in h (8x the nodes: h halves; the Neumann face
    # lowers the order from 2, as in 2-D)
    e1, e2 = initial_error(_cube_study(u, 300)), initial_error(_cube_study(u, 2400))
    assert e1 / e2 > 2.0, (e1, e2)


def test_weight_builds_in_blocks_are_the_same():
    """Large builds run in rematerialized row blocks (``_system.in_blocks``): the same
    weights and the same gradient as one build (here 3 blocks of 64 for 150 rows)."""
    from rbfopt.studies._system import in_blocks

    x = jnp.asarray(np.random.default_rng(3).random((150, 2)))
    adjl = jnp.asarray(ro.find_neighbors(np.asarray(x), 12))
    basis = ro.PHS(3, poly_deg=2)
    r = jnp.asarray(np.random.default_rng(4).standard_normal((150, 12)))

    def loss(x, build):
        return jnp.sum(r * build(ro.Laplacian(), x, x, adjl, basis))

    whole = ro.build_weights
    blocked = in_blocks(ro.build_weights, 64)
    w1, w2 = (b(ro.Laplacian(), x, x, adjl, basis) for b in (whole, blocked))
    np.testing.assert_allclose(w2, w1, rtol=1e-12, atol=1e-9)
    g1, g2 = (jax.grad(loss)(x, b) for b in (whole, blocked))
    np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-8 * float(jnp.max(jnp.abs(g1))))


def test_blend_kind_taper_builds_tapered_weights():
    """``blend_kind="taper"`` reaches ``ro.fd.tapered_weights`` with the study's taper."""
    from rbfopt.studies._system import weights_for

    x = jnp.asarray(np.random.default_rng(5).random((80, 2)))
    adjl = jnp.asarray(ro.find_neighbors(np.asarray(x), 14))
    basis = ro.PHS(3, poly_deg=2)
    got = weights_for(2, 0.3, "taper")(ro.Laplacian(), x, x, adjl, basis)
    ref = ro.fd.tapered_weights(ro.Laplacian(), x, x, adjl, basis, taper=0.3)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    assert not np.allclose(got, weights_for(2, 0.3)(ro.Laplacian(), x, x, adjl, basis))
