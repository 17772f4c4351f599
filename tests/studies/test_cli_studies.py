"""A user's own node-layout study as a problem file: it runs from the command line, and
its bad input is a one-line error with exit status 2 and nothing written."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from rbfopt.app.cli import main

STUDY = textwrap.dedent(
    '''
    """A Poisson study on a square with a hole, mixed conditions."""
    import jax, jax.numpy as jnp
    import rbfopt as ro

    DEFAULTS = {"steps": 3, "lr": 0.02}

    def u(x):
        return jnp.sin(2 * x[0]) * jnp.exp(x[1])

    def problem(n: int = 150, bc: str = "ok", source: str = "ok", limit: int = 0):
        dom = ro.geometry.Polygon(
            [[0, 0], [1, 0], [1, 1], [0, 1]],
            holes=[[[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]],
            groups={"left": [3]},
        )
        flux = lambda x, n: jnp.dot(jax.grad(u)(x), n)
        bcs = {"left": ro.Neumann(flux), "outer": ro.Dirichlet(u), "hole0": ro.Dirichlet(u)}
        if bc == "unknown":
            bcs["inlet"] = ro.Dirichlet(0.0)
        if bc == "missing":
            del bcs["hole0"]
        if bc == "neumann":
            bcs = {g: ro.Neumann(flux) for g in bcs}
        f = lambda x: jnp.trace(jax.hessian(u)(x))
        if source == "nan":
            f = lambda x: jnp.nan * x[0]
        if source == "shape":
            f = lambda x: x
        # one plain member compiles in a fifth of the default family's time; the CLI and
        # the export are what this file tests, the family runs in tests/studies/test_family.py
        if limit:
            return ro.studies.node_layout(dom, source=f, bcs=bcs, n=n, objective="reference",
                                          max_reference_nodes=limit, name="holes", blend=0,
                                          discretizations=[16])
        return ro.studies.node_layout(dom, source=f, bcs=bcs, n=n, objective="exact", exact=u,
                                      name="holes", blend=0, discretizations=[16])
    '''
)


@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "holes.py"
    path.write_text(STUDY)
    return str(path)


def test_runs_and_exports_groups(study_file, tmp_path):
    out = tmp_path / "run"
    assert main(["run", study_file, "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["report"]["objective"] == "exact"
    assert summary["mesh_quality"]["optimized"]["min_angle"] > 0
    # the held-out family (plain stencils the one-member family did not use) is tabled
    # and plotted
    rob = summary["report"]["robustness"]
    assert "k=12 plain" in rob["discretizations"] and "k=16 plain" not in rob["discretizations"]
    before, after = np.array(rob["initial"]), np.array(rob["optimized"])
    assert np.all(np.isfinite(before) & (before > 0)) and np.all(np.isfinite(after))
    assert np.allclose(rob["factor"], before / after, rtol=1e-12)
    assert "robustness.png" in summary["files"] and (out / "robustness.png").exists()
    import meshio

    mesh = meshio.read(out / "mesh.msh")
    assert {"left", "outer", "hole0"} <= set(mesh.field_data)
    # a finite-element code reads it: scikit-fem finds the groups by name and a P2
    # solve of the study's problem (u = sin(2x) e^y, all groups Dirichlet) is accurate
    skfem = pytest.importorskip("skfem")
    from skfem.helpers import dot, grad

    m = skfem.MeshTri.load(str(out / "mesh.msh"))
    assert {"left", "outer", "hole0"} <= set(m.boundaries)
    hole = m.p[:, m.facets[:, m.boundaries["hole0"]]].mean(axis=1)
    assert np.all(np.abs(hole - 0.5).max(axis=0) < 0.1 + 1e-12)
    basis = skfem.Basis(m, skfem.ElementTriP2())

    def exact(x, y):
        return np.sin(2 * x) * np.exp(y)

    lap = skfem.BilinearForm(lambda u, v, w: dot(grad(u), grad(v))).assemble(basis)
    # -lap u = (4 - 1) sin(2x) e^y
    b = skfem.LinearForm(lambda v, w: 3 * np.sin(2 * w.x[0]) * np.exp(w.x[1]) * v).assemble(basis)
    dofs = np.concatenate(
        [basis.get_dofs(m.boundaries[g]).all() for g in ("left", "outer", "hole0")]
    )
    u = skfem.solve(*skfem.condense(lap, b, x=exact(*basis.doflocs), D=np.unique(dofs)))
    err = skfem.Functional(lambda w: (w["uh"] - exact(*w.x)) ** 2)
    assert np.sqrt(err.assemble(basis, uh=basis.interpolate(u))) < 1e-3


@pytest.mark.parametrize(
    "opt, msg",
    [
        ("bc=unknown", "bcs: unknown boundary groups ['inlet']"),
        ("bc=missing", "bcs: no condition for the boundary groups ['hole0']"),
        ("source=nan", "source: NaN or inf at nodes"),
        ("source=shape", "source: must return one value per point"),
        ("bc=neumann", "bcs: every group has a Neumann condition"),
        ("limit=500", "reference: the reference node set"),
    ],
)
def test_bad_study_exits_2(study_file, tmp_path, capsys, opt, msg):
    out = tmp_path / "o"
    assert main(["run", study_file, "--out", str(out), "-O", opt]) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()
