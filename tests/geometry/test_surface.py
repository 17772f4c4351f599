"""Surface (3-D): signed distance, closest points, normals, volumes, features, rules."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from geometry_refs import cube, icosphere, timed_queries, tri_closest, winding

import rbfopt  # noqa: F401
from rbfopt.geometry import Surface
from rbfopt.testing import check_rules


def _cube_with_hole(level=2, r=0.5):
    v1, f1 = cube(1.0, 2)
    v2, f2 = icosphere(level, r, centre=(0.1, 0.0, -0.05))
    f2 = f2[:, ::-1]  # inward-facing sphere, as a cavity's boundary would be written
    return np.concatenate([v1, v2]), np.concatenate([f1, f2 + len(v1)])


@pytest.fixture(scope="module")
def holed():
    v, f = _cube_with_hole()
    return Surface(v, f[::-1][:, [1, 0, 2]])  # shuffled orientation: normalized inside


@pytest.fixture(scope="module")
def queries(holed):
    rng = np.random.default_rng(0)
    v = holed.vertices
    e = holed._elem
    w = rng.dirichlet(np.ones(3), size=len(e))
    edge_mid = 0.5 * (e[:, 0] + e[:, 1])
    return np.concatenate(
        [
            rng.uniform(-1.4, 1.4, (300, 3)),
            v + 1e-7 * rng.normal(size=v.shape),
            v,
            np.einsum("tk,tkd->td", w, e)[::4],  # on faces
            edge_mid[::4],  # on edges
        ]
    )


def test_sdf_and_closest_against_brute_force(holed, queries):
    e = holed._elem
    dist, pts = tri_closest(queries, e[:, 0], e[:, 1], e[:, 2])
    ref = dist.min(axis=1)
    s = np.asarray(holed.sdf(queries))
    np.testing.assert_allclose(np.abs(s), ref, rtol=0, atol=1e-13)
    inside = winding(queries, e[:, 0], e[:, 1], e[:, 2]) > 0.5
    off = ref > 1e-9
    np.testing.assert_array_equal(s[off] < 0, inside[off])
    p, n, g = holed.closest(queries)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(p) - queries, axis=1), ref, atol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(n), axis=1), 1.0, atol=1e-12)
    far = ref > 1e-3
    side = np.sum((queries - np.asarray(p)) * np.asarray(n), axis=1)
    np.testing.assert_array_equal(side[far] > 0, ~inside[far])


def test_volume_groups_and_orientation(holed):
    r = 0.5
    assert holed.group_names == ("outer", "hole0")
    vs, fs = icosphere(2, r)
    a, b, c = (vs[fs[:, k]] for k in range(3))
    ball = np.einsum("ij,ij->", a, np.cross(b, c)) / 6
    assert holed.measure == pytest.approx(8.0 - ball, rel=1e-12)
    # the cavity's normals point into the cavity (out of the domain)
    centre = np.array([[0.1, 0.0, -0.05]])
    p, n, g = holed.closest(centre)
    assert holed.group_names[int(g[0])] == "hole0"
    assert float(np.sum((centre - np.asarray(p)) * np.asarray(n))) > 0
    assert float(holed.sdf(centre)[0]) > 0
    np.testing.assert_allclose(holed.bounds, [[-1, -1, -1], [1, 1, 1]])


def test_ball_volume_converges_and_normals_are_radial():
    errs = []
    for level in (1, 2, 3):
        v, f = icosphere(level, 2.0)
        s = Surface(v, f)
        errs.append(abs(s.measure - 4 / 3 * np.pi * 8))
        assert len(s.features) == 0
    assert errs[0] > 3 * errs[1] > 9 * errs[2] > 0
    x = 1.3 * v[:50]  # outside, towards vertices: angle-weighted pseudo-normals
    _, n, _ = s.closest(x)
    want = x / np.linalg.norm(x, axis=1)[:, None]
    assert np.max(np.linalg.norm(np.asarray(n) - want, axis=1)) < 0.02
    y = np.random.default_rng(2).normal(size=(50, 3))
    y *= 1.7 / np.linalg.norm(y, axis=1)[:, None]
    _, n, _ = s.closest(y)
    assert np.max(np.linalg.norm(np.asarray(n) - y / 1.7, axis=1)) < 0.1


def test_cube_normals_features_and_groups():
    v, f = cube(1.0, 2)
    top = np.flatnonzero(np.all(v[f][:, :, 2] == 1.0, axis=1))
    s = Surface(v, f, groups={"top": top})
    assert s.group_names == ("top", "outer")
    x = np.array([[0.2, 0.1, 1.5], [1.4, 0.2, -0.3], [0.0, 0.0, 0.0], [1.5, 1.5, 1.5]])
    np.testing.assert_allclose(np.asarray(s.sdf(x)), [0.5, 0.4, -1.0, 0.75**0.5], atol=1e-15)
    _, n, g = s.closest(x)
    np.testing.assert_allclose(np.asarray(n)[:2], [[0, 0, 1], [1, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(np.asarray(n)[3], np.full(3, 3**-0.5), atol=1e-12)
    assert [s.group_names[i] for i in np.asarray(g)[:2]] == ["top", "outer"]
    # features: the vertices on the 12 cube edges (3 per edge with 2 x 2 faces), not
    # the face centres
    assert len(s.features) == 26 - 6
    assert np.all(np.sum(np.abs(s.features) == 1.0, axis=1) >= 2)
    assert s.measure == pytest.approx(8.0)


def test_derivative_rules_away_from_medial_axis(holed):
    x = np.array([[0.8, 0.1, 0.2], [0.1, 0.75, -0.2], [1.3, 0.3, -0.1], [0.13, 0.21, 0.3]])
    check_rules(lambda x: (holed.sdf(x), holed.closest(x)[0]), x, modes=("fwd", "rev"))


def test_gradients_finite_on_boundary(holed):
    e = holed._elem
    x = np.concatenate([holed.vertices, 0.5 * (e[:, 0] + e[:, 1]), e.mean(axis=1)])
    g = jax.grad(lambda x: holed.sdf(x).sum())(x)
    assert np.all(np.isfinite(np.asarray(g)))
    # at face centres the gradient is the face normal
    np.testing.assert_allclose(
        np.asarray(g)[-len(e) :], np.asarray(holed._arrays["nrm"]), atol=1e-12
    )


@pytest.mark.slow
def test_many_queries_against_8e4_triangles():
    v, f = icosphere(6, 1.0)  # 81 920 triangles
    x = np.random.default_rng(1).uniform(-1.2, 1.2, (300_000, 3))
    s, d = timed_queries(lambda: Surface(v, f), x, f"3 x 10^5 queries, {len(f)} triangles")
    # exact distances to the polyhedron lie within its gap to the sphere
    gap = 1 - np.min(np.linalg.norm(s._elem.mean(axis=1), axis=1))
    np.testing.assert_allclose(np.asarray(d), np.linalg.norm(x, axis=1) - 1, atol=gap)
