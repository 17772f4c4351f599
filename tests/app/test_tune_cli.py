"""``rbfopt tune``: outputs in scipy's conventions, every input format, bad data."""

import json
import os

import meshio
import numpy as np
import pytest
import scipy.interpolate as si

from rbfopt.app.cli import main

RNG = np.random.default_rng(3)
X = RNG.random((120, 2))
F = np.cos(3 * X[:, 0]) * X[:, 1] + 1e-3 * RNG.standard_normal(120)


def write_csv(path, x, f, header="x,y,temp"):
    np.savetxt(path, np.column_stack([x, f]), delimiter=",", header=header, comments="")
    return str(path)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    data = write_csv(d / "sensors.csv", X, F)
    out = d / "out"
    assert main(["tune", data, "--kernel", "imq", "--out", str(out), "--no-compile-cache"]) == 0
    return out


def test_eps_json_reproduces_the_fit_in_scipy(tuned, capsys):
    res = json.loads((tuned / "eps.json").read_text())
    assert res["kernel"] == "imq" and res["scipy_kernel"] == "inverse_multiquadric"
    assert res["degree"] == 0 and res["method"] == "dense" and res["n_points"] == 120
    assert res["loocv_rms"] <= res["loocv_rms_start"]
    assert np.shape(res["scan"]["loocv_rms"]) == (28, 27)
    assert sorted(os.listdir(tuned)) == ["eps.json", "interpolant.vtu", "loocv.png"]
    fit = si.RBFInterpolator(
        X,
        F,
        kernel=res["scipy_kernel"],
        epsilon=res["epsilon"],
        smoothing=res["smoothing"],
        degree=res["degree"],
    )
    grid = meshio.read(tuned / "interpolant.vtu")
    np.testing.assert_allclose(
        fit(grid.points[:, :2]), grid.point_data["fit"], rtol=1e-8, atol=1e-10
    )
    # the grid covers the data's hull and the fit follows the data there
    assert len(grid.cells_dict["triangle"]) > 1000
    assert np.sqrt(np.mean((fit(X) - F) ** 2)) < 5e-3


def test_npz_and_vtu_inputs_give_the_same_tuning(tuned, tmp_path):
    ref = json.loads((tuned / "eps.json").read_text())
    np.savez(tmp_path / "d.npz", points=X, values=F)
    pts = np.hstack([X, np.zeros((len(X), 1))])
    meshio.write(
        tmp_path / "d.vtu",
        meshio.Mesh(pts, [("vertex", np.arange(120)[:, None])], point_data={"temp": F}),
    )
    for name in ("d.npz", "d.vtu"):
        out = tmp_path / name.replace(".", "_")
        assert main(["tune", str(tmp_path / name), "--kernel", "imq", "--out", str(out)]) == 0
        res = json.loads((out / "eps.json").read_text())
        assert res["epsilon"] == pytest.approx(ref["epsilon"], rel=1e-9)
        assert res["smoothing"] == pytest.approx(ref["smoothing"], rel=1e-9)


def test_per_point_keeps_the_global_pair_for_scipy(tuned, tmp_path, capsys):
    data = write_csv(tmp_path / "s.csv", X, F)
    out = tmp_path / "pp"
    assert main(["tune", data, "--kernel", "imq", "--eps", "per_point", "--out", str(out)]) == 0
    res = json.loads((out / "eps.json").read_text())
    ref = json.loads((tuned / "eps.json").read_text())
    assert res["epsilon"] == pytest.approx(ref["epsilon"], rel=1e-9)
    eps = np.asarray(res["per_point"]["epsilon"])
    assert eps.shape == (120,) and res["per_point"]["loocv_rms"] <= res["loocv_rms"]
    assert "epsilon=" in capsys.readouterr().out.splitlines()[-1]


def test_csv_column_choice(tmp_path):
    path = tmp_path / "c.csv"
    np.savetxt(path, np.column_stack([F, X]), delimiter=",", header="temp,x,y", comments="")
    out = tmp_path / "o"
    code = main(
        [
            "tune",
            str(path),
            "--coords",
            "x,y",
            "--value",
            "temp",
            "--smoothing",
            "1e-6",
            "--kernel",
            "gaussian",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    res = json.loads((out / "eps.json").read_text())
    assert res["columns"] == ["x", "y", "temp"] and res["smoothing"] == 1e-6


@pytest.mark.parametrize(
    "content,args,match",
    [
        ("x,y,t\n0,0,1\n1,zero,2\n0,1,3\n", [], "line 3, column 'y': 'zero' is not a number"),
        ("x,y,t\n0,0,1\n1,0,nan\n0,1,3\n", [], "NaN/inf in t at rows [1]"),
        ("x,y,t\n0,0,1\n1,0,2\n0,0,3\n", [], "duplicate points, rows [[0, 2]]"),
        ("x,y,t\n0,0,1\n1,0,2\n", ["--degree", "1"], "fewer than the 3 monomials"),
        ("x,y,t\n0,0,1\n1,0,2\n0,1,3\n", ["--coords", "x,z"], "no column 'z' (columns: x, y, t)"),
        ("x,y,t\n0,0,1\n1,0,2\n0,1,3\n", ["--value", "u"], "no column 'u'"),
        ("x,y,t\n0,0,1\n1,0,2\n0,1,3\n", ["--kernel", "bessel"], "kernel: expected one of"),
        ("x,y,t\n0,0,1\n1,0,2\n0,1,3\n", ["--smoothing", "lots"], "--smoothing: expected"),
        ("x,y,t\n0,0,1\n1,0\n", [], "line 3 has 2 cells"),
        (
            "x,y,t\n0,0,1\n1,0,2\n0,1,3\n1,1,4\n2,0,5\n0,2,6\n",
            ["--kernel", "cubic", "--eps", "per_point"],
            "no shape parameter to vary",
        ),
    ],
)
def test_bad_data_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, content, args, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = tmp_path / "never"
    assert main(["tune", str(path), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rbfopt: error: ")
    assert match in err
    assert not out.exists()
