"""Polygon: signed distance, closest points, normals, areas, features, derivatives."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from geometry_refs import even_odd_inside, seg_closest, timed_queries

import rbfopt  # noqa: F401
from rbfopt.geometry import Polygon
from rbfopt.testing import check_rules

# a star-shaped outer loop given clockwise, with a square hole given clockwise too
TH = np.linspace(0, 2 * np.pi, 40, endpoint=False)
R = 1 + 0.3 * np.sin(5 * TH)
OUTER = np.c_[R * np.cos(TH), R * np.sin(TH)][::-1]
HOLE = np.array([[0.1, 0.1], [0.1, 0.4], [0.4, 0.4], [0.4, 0.1]])


@pytest.fixture(scope="module")
def star():
    return Polygon(OUTER, [HOLE], groups={"tip": [0, 1, 2], "h": [40, 41]})


@pytest.fixture(scope="module")
def queries(star):
    rng = np.random.default_rng(0)
    v = star.vertices
    x = [
        rng.uniform(-1.5, 1.5, (400, 2)),
        v + 1e-7 * rng.normal(size=v.shape),  # near vertices
        v,  # on vertices
    ]
    a, b = star._elem[:, 0], star._elem[:, 1]
    t = rng.uniform(size=(len(a), 1))
    x.append(a + t * (b - a))  # on edges
    return np.concatenate(x)


def test_sdf_and_closest_against_brute_force(star, queries):
    loops = [OUTER, HOLE]
    a = np.concatenate([lp for lp in loops])
    b = np.concatenate([np.roll(lp, -1, axis=0) for lp in loops])
    dist, pts = seg_closest(queries, a, b)
    ref = dist.min(axis=1)
    inside = even_odd_inside(queries, loops)
    s = np.asarray(star.sdf(queries))
    np.testing.assert_allclose(np.abs(s), ref, rtol=0, atol=1e-13)
    off = ref > 1e-12
    np.testing.assert_array_equal(s[off] < 0, inside[off])
    p, n, g = star.closest(queries)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(p) - queries, axis=1), ref, atol=1e-13)
    k = np.argmin(dist, axis=1)
    # the reference's closest point; ties (the medial axis) give equal distances anyway
    np.testing.assert_allclose(np.asarray(p)[off], pts[np.arange(len(k)), k][off], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(n), axis=1), 1.0, atol=1e-13)
    # the normal points from the closest point towards outside points, away from inside ones
    far = ref > 1e-3
    side = np.sum((queries - np.asarray(p)) * np.asarray(n), axis=1)
    np.testing.assert_array_equal(side[far] > 0, ~inside[far])
    assert np.all(np.isin(np.asarray(g), np.arange(len(star.group_names))))


def test_groups_and_numbering(star):
    assert star.group_names == ("tip", "h", "outer", "hole0")
    names = [star.group_names[i] for i in star.element_group]
    assert names[:3] == ["tip"] * 3 and names[3:40] == ["outer"] * 37
    assert names[40:42] == ["h", "h"] and names[42:] == ["hole0"] * 2
    # edge 41 joins hole vertices 1 and 2: its midpoint's closest group is "h"
    mid = 0.5 * (HOLE[1] + HOLE[2])
    assert star.group_names[int(star.closest(mid[None])[2][0])] == "h"
    assert star.group_id("tip") == 0
    np.testing.assert_allclose(star.bounds, [OUTER.min(0), OUTER.max(0)])


def test_contains_margin(star):
    x = np.array([[0.25, 0.25], [0.0, 0.0], [0.0, -0.05], [5.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(star.contains(x)), [False, True, True, False])
    d = -float(star.sdf(x[1:2])[0])
    assert bool(star.contains(x[1:2], margin=0.9 * d)[0])
    assert not bool(star.contains(x[1:2], margin=1.1 * d)[0])


def test_square_normals_and_features():
    sq = Polygon([[0, 1], [1, 1], [1, 0], [0, 0]])  # clockwise
    x = np.array([[0.5, -0.2], [1.3, 0.5], [0.5, 1.1], [-0.1, 0.5], [0.5, 0.4], [1.5, 1.5]])
    p, n, _ = sq.closest(x)
    want = [[0, -1], [1, 0], [0, 1], [-1, 0], [0, -1], [2**-0.5, 2**-0.5]]
    np.testing.assert_allclose(np.asarray(n), want, atol=1e-15)
    np.testing.assert_allclose(np.asarray(sq.sdf(x)), [0.2, 0.3, 0.1, 0.1, -0.4, 0.5**0.5])
    assert sq.measure == pytest.approx(1.0)
    assert sorted(map(tuple, sq.features)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # a closing vertex equal to the first is dropped
    assert Polygon([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]).elements.shape == (4, 2)


def test_disk_area_converges_and_normals_are_radial():
    errs = []
    for n in (16, 64, 256):
        th = np.linspace(0, 2 * np.pi, n, endpoint=False)
        d = Polygon(2.0 * np.c_[np.cos(th), np.sin(th)])
        errs.append(abs(d.measure - 4 * np.pi))
        assert d.features.shape == (0, 2) if n >= 64 else True
    assert errs[0] > 10 * errs[1] > 100 * errs[2] > 0  # O(n^-2)
    x = 2.0 * np.c_[np.cos(th), np.sin(th)] * 1.3  # outside, towards the vertices
    _, nrm, _ = d.closest(x)
    np.testing.assert_allclose(np.asarray(nrm), x / np.linalg.norm(x, axis=1)[:, None], atol=1e-12)
    y = np.c_[np.cos(th + 0.01), np.sin(th + 0.01)] * 1.5  # elsewhere: O(1/n) from radial
    _, nrm, _ = d.closest(y)
    assert np.max(np.linalg.norm(np.asarray(nrm) - y / 1.5, axis=1)) < 2 * np.pi / 256


def test_features_turning_angle_and_group_change():
    # a 5-degree bend is no feature, a group change on a straight edge is
    v = np.array([[0, 0], [1, 0], [2, np.tan(np.radians(5))], [2, 1], [1, 1], [0, 1]])
    p = Polygon(v)
    assert 1 not in p.feature_ids and 2 in p.feature_ids
    p = Polygon(v, groups={"top": [3, 4]})
    assert {3, 5} <= set(p.feature_ids.tolist()) and 4 not in p.feature_ids
    assert 4 in Polygon(v, groups={"a": [3]}).feature_ids


def test_derivative_rules_away_from_medial_axis(star):
    x = np.array([[0.05, 0.6], [1.2, 0.1], [-0.3, -0.2], [0.3, 0.45]])
    # one function for both, so the rules compile once
    check_rules(lambda x: (star.sdf(x), star.closest(x)[0]), x, modes=("fwd", "rev"))


def test_gradients_finite_on_boundary_and_vertices(star):
    x = jnp.asarray(np.concatenate([star.vertices, 0.5 * (star._elem[:, 0] + star._elem[:, 1])]))
    g = jax.grad(lambda x: star.sdf(x).sum())(x)
    assert np.all(np.isfinite(np.asarray(g)))
    # on an edge's interior the gradient is its normal
    ne = len(star._elem)
    np.testing.assert_allclose(np.asarray(g)[-ne:], np.asarray(star._arrays["nrm"]), atol=1e-12)
    jp = jax.jacfwd(lambda x: star.closest(x)[0].sum(axis=0))(x)
    assert np.all(np.isfinite(np.asarray(jp)))
    # under jit and vmap
    s1 = jax.jit(star.sdf)(x)
    s2 = jax.vmap(lambda y: star.sdf(y[None])[0])(x)
    np.testing.assert_allclose(np.asarray(s1), np.asarray(s2), atol=1e-15)


@pytest.mark.slow
def test_million_queries_against_1e5_segments():
    n = 100_000
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = np.random.default_rng(1).uniform(-1.2, 1.2, (1_000_000, 2))
    _, s = timed_queries(
        lambda: Polygon(np.c_[np.cos(th), np.sin(th)]), x, "10^6 queries, 10^5 segments"
    )
    r = np.linalg.norm(x, axis=1)
    # the polygon lies within the sagitta (2 pi / n)^2 / 8 of the unit circle
    np.testing.assert_allclose(np.asarray(s), r - 1, atol=(2 * np.pi / n) ** 2 / 8 + 1e-12)
