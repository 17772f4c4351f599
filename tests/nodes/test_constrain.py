"""ro.nodes.projection: moved nodes go back where their kind says, checked against
brute-force distances to the polygon's edges and the cube's faces."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro

L_SHAPE = np.array([[0, 0], [1, 0], [1, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]], float)
H, MARGIN, GAP = 0.1, 0.03, 0.04


@pytest.fixture(scope="module")
def lshape():
    dom = ro.geometry.Polygon(L_SHAPE)
    ns = ro.nodes.generate(dom, H, seed=2)
    return dom, ns, ro.nodes.projection(dom, ns, margin=MARGIN, gap=GAP)


def _dist_to_boundary(x):
    """Unsigned distance to the L-shape's edges, brute force over all edges."""
    a, d = L_SHAPE, np.roll(L_SHAPE, -1, axis=0) - L_SHAPE
    t = np.clip(np.einsum("mnk,nk->mn", x[:, None] - a, d) / np.sum(d * d, axis=1), 0, 1)
    return np.linalg.norm(x[:, None] - (a + t[..., None] * d), axis=2).min(axis=1)


def _inside(x):
    """The L-shape by its analytic description."""
    inbox = np.all((x > 0) & (x < 1), axis=1)
    return inbox & ~((x[:, 0] > 0.5) & (x[:, 1] > 0.5))


def test_random_moves_restore_the_kinds(lshape):
    dom, ns, project = lshape
    rng = np.random.default_rng(0)
    x = ns.points + rng.uniform(-1.5 * H, 1.5 * H, ns.points.shape)
    y = np.asarray(project(x))
    k = ns.kind
    assert np.array_equal(y[k == 2], ns.points[k == 2])
    # boundary nodes on an edge, at least GAP from every corner
    b = y[k == 1]
    assert np.all(_dist_to_boundary(b) < 1e-12)
    corner_d = np.linalg.norm(b[:, None] - L_SHAPE[None], axis=2).min(axis=1)
    assert np.all(corner_d >= GAP - 1e-12)
    # interior nodes inside, at least MARGIN deep
    i = y[k == 0]
    assert np.all(_inside(i)) and np.all(_dist_to_boundary(i) >= MARGIN - 1e-12)
    # those that were deep enough did not move
    deep = (k == 0) & _inside(x) & (_dist_to_boundary(x) > MARGIN)
    assert deep.sum() > 10 and np.array_equal(y[deep], x[deep])
    # the projection of a projected set changes nothing (up to round-off)
    assert np.allclose(np.asarray(project(y)), y, atol=1e-12)


def test_no_node_lands_on_a_corner(lshape):
    dom, ns, project = lshape
    # every boundary node pushed far out past its nearest corner (into the corner's
    # normal cone, where the closest boundary point is the corner itself)
    b = np.flatnonzero(ns.kind == 1)
    f = L_SHAPE[np.linalg.norm(ns.points[b, None] - L_SHAPE[None], axis=2).argmin(axis=1)]
    x = ns.points.copy()
    x[b] = f + 3 * (f - L_SHAPE.mean(axis=0))
    y = np.asarray(project(x))[b]
    dc = np.linalg.norm(y[:, None] - L_SHAPE[None], axis=2).min(axis=1)
    assert np.all(dc >= GAP - 1e-12) and np.all(_dist_to_boundary(y) < 1e-12)
    # ... onto its own side of the corner: the direction from the corner is kept
    u0 = ns.points[b] - f
    assert np.all(np.sum((y - f) * u0, axis=1) > 0)


def test_jit_and_gradients_are_finite(lshape):
    dom, ns, project = lshape
    x = jnp.asarray(ns.points) + 0.01
    assert np.allclose(jax.jit(project)(x), project(x), rtol=0, atol=1e-14)
    g = jax.grad(lambda z: jnp.sum(project(z) ** 2))(x)
    assert np.all(np.isfinite(np.asarray(g)))


def test_cube_faces():
    v = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    tri = [[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads]
    dom = ro.geometry.Surface(v, np.array(tri))
    ns = ro.nodes.generate(dom, 0.25)
    y = np.asarray(ro.nodes.projection(dom, ns, margin=0.05)(ns.points * 1.2 - 0.1))
    k = ns.kind
    on_face = np.isclose(y, 0, atol=1e-12) | np.isclose(y, 1, atol=1e-12)
    assert np.all(on_face[k == 1].any(axis=1))
    assert np.array_equal(y[k == 2], ns.points[k == 2])
    depth = np.minimum(y[k == 0], 1 - y[k == 0]).min(axis=1)
    assert np.all(depth >= 0.05 - 1e-12)


def test_bad_arguments(lshape):
    dom, ns, _ = lshape
    with pytest.raises(ValueError, match="margin"):
        ro.nodes.projection(dom, ns, margin=-1.0)
    with pytest.raises(ValueError, match="gap"):
        ro.nodes.projection(dom, ns, margin=0.1, gap=np.ones(3))
    cube = ro.geometry.Surface(
        np.eye(3).tolist() + [[0, 0, 0]], np.array([[0, 1, 2], [0, 3, 1], [1, 3, 2], [2, 3, 0]])
    )
    with pytest.raises(ValueError, match="nodes"):
        ro.nodes.projection(cube, ns, margin=0.1)
