"""Node generation on a square, an L-shape, a square with a hole and a cube: checks
against analytic geometry (edges, normals, corners) and brute-force distances."""

from __future__ import annotations

import meshio
import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

import rbfopt as ro
from rbfopt.nodes import NodeSet, generate, quality

H = 0.05
SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]
L_SHAPE = [[0, 0], [1, 0], [1, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]]


def _edges(verts):
    v = np.asarray(verts, float)
    return v, np.roll(v, -1, axis=0)


def _on_edge(p, verts):
    """Index of the edge each point lies on (distance < 1e-12), brute force; -1 if none
    (corners: the first edge found)."""
    a, b = _edges(verts)
    d = b - a
    t = np.clip(np.einsum("mkj,kj->mk", p[:, None] - a, d) / np.sum(d * d, 1), 0, 1)
    dist = np.linalg.norm(p[:, None] - (a + t[..., None] * d), axis=2)
    return np.where(dist.min(1) < 1e-12, dist.argmin(1), -1), dist.min(1)


def _outward(verts):
    """Analytic outward normals of a counter-clockwise polygon's edges."""
    a, b = _edges(verts)
    d = b - a
    return np.stack([d[:, 1], -d[:, 0]], 1) / np.linalg.norm(d, axis=1)[:, None]


@pytest.fixture(scope="module")
def square():
    dom = ro.geometry.Polygon(SQUARE, groups={"bottom": [0], "top": [2]})
    return dom, generate(dom, H)


@pytest.fixture(scope="module")
def lshape():
    dom = ro.geometry.Polygon(L_SHAPE, groups={"notch": [2, 3]})
    return dom, generate(dom, H, seed=3)


@pytest.fixture(params=["square", "lshape"])
def case(request, square, lshape):
    verts = SQUARE if request.param == "square" else L_SHAPE
    return (square if request.param == "square" else lshape) + (verts,)


def test_nodeset_arrays(case):
    dom, ns, _ = case
    n = len(ns)
    assert isinstance(ns, NodeSet)
    assert ns.points.shape == (n, 2) and ns.points.dtype == np.float64
    assert ns.kind.dtype == np.int8 and set(np.unique(ns.kind)) == {0, 1, 2}
    assert ns.group.shape == (n,) and ns.normals.shape == (n, 2)
    assert np.all(ns.group[ns.kind == 0] == -1) and np.all(ns.normals[ns.kind == 0] == 0)
    assert ns.group_names == dom.group_names


def test_inside_and_on_boundary(case):
    dom, ns, verts = case
    sd = np.asarray(dom.sdf(ns.points))
    assert np.all(np.abs(sd[ns.kind > 0]) < 1e-12)
    assert np.all(sd[ns.kind == 0] < -0.3 * H)
    _, dist = _on_edge(ns.points, verts)
    assert np.all(dist[ns.kind > 0] < 1e-12) and np.all(dist[ns.kind == 0] > 0.3 * H)


def test_corners_are_features(case):
    _, ns, verts = case
    f = ns.points[ns.kind == 2]
    assert len(f) == len(verts)
    assert np.allclose(np.sort(f, axis=0), np.sort(np.asarray(verts, float), axis=0))


def test_boundary_groups_and_normals(case):
    dom, ns, verts = case
    b = ns.kind == 1
    edge, _ = _on_edge(ns.points[b], verts)
    assert np.all(edge >= 0)
    assert np.allclose(ns.normals[b], _outward(verts)[edge], atol=1e-12)
    assert np.array_equal(ns.group[b], dom.element_group[edge])
    # every edge is filled evenly: its nodes split it into equal parts close to H
    a, c = _edges(verts)
    for k in range(len(verts)):
        t = np.sort(np.linalg.norm(ns.points[b][edge == k] - a[k], axis=1))
        gaps = np.diff(np.r_[0.0, t, np.linalg.norm(c[k] - a[k])])
        assert np.allclose(gaps, gaps.mean()) and abs(gaps.mean() / H - 1) < 0.25
    # feature normals are unit, groups valid
    f = ns.kind == 2
    assert np.allclose(np.linalg.norm(ns.normals[f], axis=1), 1)
    assert np.all((ns.group[f] >= 0) & (ns.group[f] < len(dom.group_names)))


def test_spacing_count_and_quality(case):
    dom, ns, _ = case
    assert pdist(ns.points).min() >= 0.5 * H
    hex_count = dom.measure / (np.sqrt(3) / 2 * H**2)
    assert abs(len(ns) / hex_count - 1) < 0.3
    q = quality(ns.points, dom, H, samples=40_000)
    assert q["mesh_ratio"] < 2.5
    assert q["spacing_cv"] < 0.15


def test_same_seed_same_nodes(square):
    dom, ns = square
    again = generate(dom, H)
    assert np.array_equal(again.points, ns.points) and np.array_equal(again.kind, ns.kind)


def test_variable_density():
    dom = ro.geometry.Polygon(SQUARE)

    def h(x):  # 0.01 at x = 0 to 0.1 at x = 1: a factor 10 across the square
        return 0.01 * 10 ** x[:, 0]

    ns = generate(dom, h)
    assert np.all(np.asarray(dom.sdf(ns.points)) < 1e-12)
    nn = cKDTree(ns.points).query(ns.points, k=2)[0][:, 1]
    hx = h(ns.points)
    assert np.median(np.abs(nn / hx - 1)) < 0.25
    # rule: no node closer than half the local target spacing (the smaller of the pair)
    ij = cKDTree(ns.points).query_pairs(0.5 * hx.max(), output_type="ndarray")
    i, j = ij[:, 0], ij[:, 1]
    d = np.linalg.norm(ns.points[i] - ns.points[j], axis=1)
    assert np.all(d >= 0.5 * np.minimum(hx[i], hx[j]) - 1e-12)
    # density follows h: the count matches the integral of 1 / (sqrt(3)/2 h^2)
    expect = (1 - 10.0**-2) / (2 * np.log(10)) / 0.01**2 / (np.sqrt(3) / 2)
    assert abs(len(ns) / expect - 1) < 0.3


def test_hole():
    ring = ro.geometry.Polygon(SQUARE, holes=[[[0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.3, 0.7]]])
    ns = generate(ring, 0.1)
    sd = np.asarray(ring.sdf(ns.points))
    assert np.all(np.abs(sd[ns.kind > 0]) < 1e-12) and np.all(sd[ns.kind == 0] < 0)
    assert (ns.kind == 2).sum() == 8 and pdist(ns.points).min() >= 0.05
    hole = ns.group == ring.group_id("hole0")
    inner = ns.points[hole]
    assert hole.sum() > 8 and np.all(np.abs(inner - 0.5).max(axis=1) < 0.2 + 1e-12)
    # hole normals point out of the domain, i.e. into the hole, towards its centre
    assert np.all(np.sum(ns.normals[hole] * (inner - 0.5), axis=1) < 0)


def _cube():
    v = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    tri = [[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads]
    return ro.geometry.Surface(v, np.array(tri))


def test_cube_surface():
    dom, h = _cube(), 0.2
    ns = generate(dom, h)
    n = len(ns)
    assert 150 < n < 400 and ns.points.shape == (n, 3)
    x = ns.points
    sd = np.asarray(dom.sdf(x))
    b = ns.kind > 0
    assert np.all(np.abs(sd[b]) < 1e-12) and np.all(sd[~b] < -0.3 * h)
    assert pdist(x).min() >= 0.5 * h
    # boundary nodes lie on faces of the unit cube
    on = np.isclose(x, 0, atol=1e-12) | np.isclose(x, 1, atol=1e-12)
    assert np.all(on[b].any(axis=1)) and not on[~b].any()
    # the corners are the fixed features
    f = x[ns.kind == 2]
    assert len(f) == 8 and np.all(on[ns.kind == 2].all(axis=1))
    # nodes inside a face (one coordinate on the boundary): axis-aligned outward normals
    face = b & (on.sum(axis=1) == 1)
    ax = on[face].argmax(axis=1)
    want = np.zeros((face.sum(), 3))
    want[np.arange(face.sum()), ax] = np.where(x[face, ax] > 0.5, 1.0, -1.0)
    assert face.sum() > 50 and np.allclose(ns.normals[face], want, atol=1e-12)
    assert np.all(ns.group[b] == 0) and np.all(ns.group[~b] == -1)
    q = quality(x, dom, h, samples=20_000)
    assert q["mesh_ratio"] < 3.0


def test_variable_density_3d():
    dom = _cube()

    def h(x):  # 0.04 at x = 0 to 0.4 at x = 1: a factor 10 across the cube
        return 0.04 * 10 ** x[:, 0]

    ns = generate(dom, h)
    nn = cKDTree(ns.points).query(ns.points, k=2)[0][:, 1]
    hx = h(ns.points)
    assert np.median(np.abs(nn / hx - 1)) < 0.25
    ij = cKDTree(ns.points).query_pairs(0.5 * hx.max(), output_type="ndarray")
    d = np.linalg.norm(ns.points[ij[:, 0]] - ns.points[ij[:, 1]], axis=1)
    assert np.all(d >= 0.5 * np.minimum(hx[ij[:, 0]], hx[ij[:, 1]]) - 1e-12)
    # density follows h: more nodes in the fine tenth than in the coarse half
    x = ns.points[:, 0]
    assert (x < 0.1).sum() > 3 * (x > 0.5).sum()


def test_to_meshio(square, tmp_path):
    _, ns = square
    m = ns.to_meshio()
    path = tmp_path / "nodes.vtu"
    meshio.write(path, m)
    back = meshio.read(path)
    assert np.allclose(back.points[:, :2], ns.points)
    assert np.array_equal(back.point_data["kind"], ns.kind)
    assert np.array_equal(back.point_data["group"], ns.group)
    assert np.allclose(back.point_data["normals"][:, :2], ns.normals)
    assert np.all(back.point_data["normals"][:, 2] == 0)


@pytest.mark.parametrize(
    ("spacing", "match"),
    [
        (0.0, "finite and positive"),
        (-0.1, "finite and positive"),
        (float("nan"), "finite and positive"),
        ("abc", "positive number or a callable"),
        (lambda x: np.ones((len(x), 1)), "must return one value per point"),
        (lambda x: -np.ones(len(x)), "finite positive values"),
        (lambda x: np.full(len(x), np.nan), "finite positive values"),
        (1e-5, "would give about 1.15e\\+10 nodes"),
    ],
)
def test_bad_spacing(spacing, match):
    dom = ro.geometry.Polygon(SQUARE)
    with pytest.raises(ValueError, match=f"spacing: .*{match}"):
        generate(dom, spacing)


def test_too_many_nodes_callable():
    dom = ro.geometry.Polygon(SQUARE)
    with pytest.raises(ValueError, match=r"spacing: too small: .* about 1\.\d+e\+08"):
        generate(dom, lambda x: np.full(len(x), 1e-4))


def test_bad_domain():
    with pytest.raises(ValueError, match="domain: expected a 2-D or 3-D"):
        generate(object(), 0.1)


@pytest.mark.parametrize("repel", [-1, 2.5, True])
def test_bad_repel(repel):
    with pytest.raises(ValueError, match="repel: number of repulsion steps"):
        generate(ro.geometry.Polygon(SQUARE), 0.25, repel=repel)
