"""A user's own node-layout study as a problem file: it runs from the command line, and
its bad input is a one-line error with exit status 2 and nothing written."""

from __future__ import annotations

import json
import textwrap

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

    def problem(n: int = 150, bc: str = "ok", source: str = "ok"):
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
        f = lambda x: jnp.trace(jax.hessian(u)(x))
        if source == "nan":
            f = lambda x: jnp.nan * x[0]
        return ro.studies.node_layout(dom, source=f, bcs=bcs, n=n, objective="exact", exact=u,
                                      name="holes")
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
    import meshio

    mesh = meshio.read(out / "mesh.msh")
    assert {"left", "outer", "hole0"} <= set(mesh.field_data)


@pytest.mark.parametrize(
    "opt, msg",
    [
        ("bc=unknown", "bcs: unknown boundary groups ['inlet']"),
        ("bc=missing", "bcs: no condition for the boundary groups ['hole0']"),
        ("source=nan", "source: NaN or inf at nodes"),
    ],
)
def test_bad_study_exits_2(study_file, tmp_path, capsys, opt, msg):
    out = tmp_path / "o"
    assert main(["run", study_file, "--out", str(out), "-O", opt]) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()
