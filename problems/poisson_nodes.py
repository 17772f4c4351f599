"""Move RBF-FD nodes to minimize the Poisson solution error on an L-shaped domain (default study).

Problem. On the L-shaped domain ``Omega = (-1, 1)^2 minus [0, 1] x [-1, 0]`` solve

    -Delta u = f  in Omega,      u = g  on the boundary,

with the manufactured solution ``u(x) = exp(-|x - c|^2 / (2 w^2)) + r^(2/3) sin(2 theta / 3)``
(a sharp Gaussian peak of width ``w`` at ``c`` plus the re-entrant-corner
singularity, polar coordinates about the corner ``(0, 0)``); ``f = -Delta u`` and
``g = u`` are evaluated by JAX autodiff at the nodes.

Discretization. ``N`` nodes ``X = (corners, boundary nodes, interior nodes)``; PHS3
+ quadratic RBF-FD Laplacian rows at interior nodes, Dirichlet identity rows on the
boundary (a :class:`rbfopt.StencilMatrix`), one sparse solve
(:func:`rbfopt.linsolve`) for ``u_h`` at the nodes. The discrete solution
is carried to a FIXED fine set ``Y`` (a regular grid of spacing ``h/fine``
restricted to ``Omega``) by local RBF interpolation ``R(X) u_h`` (the weights of
:func:`rbfopt.regrid`, stencils of the ``k`` nearest nodes).

Optimization. Parameters: all node positions, in units of the starting spacing ``h``
(so the learning rate is a fraction of the spacing at any ``n``). The loss is

    L(X) = log rms_Y(R(X) u_h(X) - u) + mu / N sum_{i, j in stencil(i)} relu(1 - d_ij / delta)^2

where the second term, a spacing barrier over stencil neighbour pairs with
``delta = spacing * h`` (``h`` the initial mean spacing), keeps nodes from
collapsing. Gradients flow through the Laplacian weights, the assembled matrix, the
sparse solve and the regrid weights. ``project`` comes from the domain
(:func:`rbfopt.nodes.projection`): the 6 corners stay fixed, boundary nodes slide
along the boundary through ``domain.closest`` (at least ``margin * h`` from a
corner), interior nodes stay at least ``margin * h`` inside. Stencils (of the system
and of the regrid) are recomputed every step.

Domain and start: the L-shape is a :class:`rbfopt.geometry.Polygon`, the starting
nodes come from :func:`rbfopt.nodes.generate` at the constant spacing that gives
about ``n`` nodes, so the study runs at any size (``-O n=100000``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rbfopt as ro
from rbfopt.app import Problem
from rbfopt.app.export import node_cloud
from rbfopt.sparse import StencilMatrix, linsolve

# Stencils are refreshed every step: the objective jumps when neighbour lists
# change, and stale stencils let the optimizer exploit lists that a fresh search
# would not pick (errors that come back at the next refresh).
DEFAULTS = {
    "steps": 100,
    "optimizer": "adam",
    "lr": 0.037,
    "schedule": "cosine",
    "restencil_every": 1,
}

#: Corners of the L-shape, counter-clockwise.
CORNERS = np.array([[-1.0, -1.0], [0.0, -1.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]])
DOMAIN = ro.geometry.Polygon(CORNERS)


def inside(p: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """True where points lie in the L-shape (farther than ``margin`` from its boundary)."""
    return np.asarray(DOMAIN.contains(np.asarray(p, dtype=np.float64).reshape(-1, 2), margin))


def exact_fn(center=(-0.4, 0.4), width=0.08):
    """The manufactured solution u(x) for one point x of shape (2,)."""
    c = jnp.asarray(center)

    def u(x):
        bump = jnp.exp(-jnp.sum((x - c) ** 2) / (2 * width**2))
        # corner singularity r^(2/3) sin(2 theta / 3), theta in (0, 3 pi / 2) measured
        # from the positive x-axis counter-clockwise (the domain's opening angle).
        r2 = jnp.sum(x**2)
        safe = r2 > 1e-30
        r = jnp.sqrt(jnp.where(safe, r2, 1.0))
        th = jnp.arctan2(x[1], x[0])
        th = jnp.where(th < -0.5 * jnp.pi, th + 2 * jnp.pi, th)  # (-pi/2, 3pi/2]
        th = jnp.where(th < 0.0, th + 2 * jnp.pi, th)  # the cut quadrant is outside
        sing = jnp.where(safe, r ** (2.0 / 3.0) * jnp.sin(2.0 * th / 3.0), 0.0)
        return bump + sing

    return u


def problem(
    n: int = 1000,
    fine: float = 2.0,
    k: int = 0,
    poly_deg: int = 2,
    mu: float = 10.0,
    spacing: float = 0.3,
    margin: float = 0.25,
    width: float = 0.08,
    seed: int = 0,
) -> Problem:
    """Build the study. ``n``: about how many nodes; ``fine``: fine-set density (grid
    spacing h / fine); ``k``: stencil size (0: autoselect + 4); ``poly_deg``: PHS3
    polynomial degree; ``mu``, ``spacing``: barrier weight and spacing floor (in units
    of the initial spacing h); ``margin``: interior nodes stay margin*h inside and
    boundary nodes margin*h from a corner; ``width``: width of the solution's peak."""
    if n < 50:
        raise ValueError(f"n: need at least 50 nodes, got {n}")
    if not (fine > 0 and np.isfinite(fine)):
        raise ValueError(f"fine: must be > 0, got {fine}")
    if poly_deg not in (1, 2, 3):
        raise ValueError(f"poly_deg: expected 1, 2 or 3, got {poly_deg}")
    if not (0 < spacing < 1) or not (0 < margin < 0.5) or mu < 0 or width <= 0:
        raise ValueError(
            f"need 0 < spacing < 1, 0 < margin < 0.5, mu >= 0, width > 0; got spacing={spacing}, "
            f"margin={margin}, mu={mu}, width={width}"
        )
    kk = k if k > 0 else ro.autoselect_k(2, poly_deg) + 4
    basis = ro.PHS(3, poly_deg=poly_deg)
    h = ro.nodes.spacing_for(DOMAIN, n)
    start = ro.nodes.generate(DOMAIN, h, seed=seed)
    n_tot = len(start)
    n_b = int(np.sum(start.kind != 0))  # corners and boundary nodes come first
    if kk > n_tot:
        raise ValueError(f"k: stencil size {kk} exceeds the number of nodes {n_tot}")
    project = ro.nodes.projection(DOMAIN, start, margin=margin * h)
    u_fn = exact_fn(width=width)
    u_vec = jax.vmap(u_fn)

    def f_fn(x):
        return -jnp.trace(jax.hessian(u_fn)(x))

    f_vec = jax.vmap(f_fn)
    # fixed fine evaluation set: regular grid of spacing h / fine inside the domain
    hf = h / fine
    g = np.arange(-1 + hf / 2, 1, hf)
    GX, GY = np.meshgrid(g, g)
    Y = np.stack([GX.ravel(), GY.ravel()], 1)
    Y = Y[inside(Y)]
    Yj = jnp.asarray(Y)
    u_Y = u_vec(Yj)
    delta = spacing * h

    is_corner = jnp.asarray(start.kind == 2)[:, None]
    x_start = jnp.asarray(start.points)

    def nodes(p) -> jax.Array:
        # the corners are constants (no gradient: the solution is singular at (0, 0))
        return jnp.where(is_corner, x_start, p["points"] * h)

    def solve(X, adjl):
        # Rows assembled here rather than with rbfopt.fd.boundary.assemble, which needs a
        # concrete (numpy) adjl: here the stencils are jit inputs (restencil swaps
        # them without recompiling). Row i: Laplacian weights at interior nodes,
        # identity (weight 1 on the node itself, first in its stencil) on the boundary.
        w_int = ro.build_weights(ro.Laplacian(), X, X[n_b:], adjl[n_b:], basis)
        w_bnd = jnp.zeros((n_b, kk), X.dtype).at[:, 0].set(1.0)
        A = StencilMatrix(jnp.concatenate([w_bnd, w_int], axis=0), adjl)
        rhs = jnp.concatenate([u_vec(X[:n_b]), -f_vec(X[n_b:])])
        return linsolve(A, rhs)

    def parts(p, aux):
        X = nodes(p)
        uh = solve(X, aux["adjl"])
        w = ro.build_weights(ro.Identity(), X, Yj, aux["adjl_fine"], basis)
        uY = jnp.sum(w * uh[aux["adjl_fine"]], axis=1)
        err = jnp.sqrt(jnp.mean((uY - u_Y) ** 2))
        nb = aux["adjl"][:, 1:]
        d = jnp.sqrt(jnp.sum((X[:, None, :] - X[nb]) ** 2, axis=-1))
        barrier = jnp.sum(jax.nn.relu(1.0 - d / delta) ** 2) / n_tot
        return err, barrier, jnp.min(d), uh

    def loss(p, aux):
        # the metrics come from the same evaluation (one weight build and one
        # sparse solve per step, not a second pass for the log)
        err, barrier, dmin, _ = parts(p, aux)
        metrics = {"fine_rms_error": err, "min_spacing": dmin, "barrier": barrier}
        return jnp.log(err) + mu * barrier, metrics

    def restencil(p):
        X = np.asarray(nodes(p))
        return {
            "adjl": jnp.asarray(ro.find_neighbors(X, kk)),
            "adjl_fine": jnp.asarray(ro.find_neighbors(X, kk, Y)),
        }

    def init():
        # positions in units of the spacing h: the learning rate is a fraction of h at
        # any node count
        return {"points": jnp.asarray(start.points / h)}

    def _min_spacing(X):
        from scipy.spatial import cKDTree

        dd, _ = cKDTree(X).query(X, k=2)
        return float(dd[:, 1].min())

    def report(p):
        out = {}
        for lab, q in (("initial", init()), ("optimized", p)):
            X = np.asarray(nodes(q))
            aux = restencil(q)
            err, _, _, _ = parts(q, aux)
            out[f"fine_rms_error_{lab}"] = float(err)
            out[f"min_spacing_{lab}"] = _min_spacing(X)
        out["error_reduction_factor"] = (
            out["fine_rms_error_initial"] / out["fine_rms_error_optimized"]
        )
        out["n_nodes"] = int(n_tot)
        out["n_boundary"] = int(n_b)
        out["n_fine"] = int(len(Y))
        out["initial_mean_spacing_h"] = float(h)
        return out

    def to_mesh(p):
        X = nodes(p)
        aux = restencil(p)
        uh = solve(X, aux["adjl"])
        ue = u_vec(X)
        return node_cloud(
            np.asarray(X),
            {"u_h": np.asarray(uh), "u_exact": np.asarray(ue), "error": np.asarray(uh - ue)},
            boundary=(start.kind != 0).astype(np.int32),
        )

    return Problem(
        name="poisson_nodes",
        init=init,
        loss=loss,
        project=lambda p: {"points": project(p["points"] * h) / h},
        restencil=restencil,
        to_mesh=to_mesh,
        inside=inside,
        report=report,
        options=dict(
            n=n,
            fine=fine,
            k=k,
            poly_deg=poly_deg,
            mu=mu,
            spacing=spacing,
            margin=margin,
            width=width,
            seed=seed,
        ),
    )
