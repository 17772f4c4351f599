"""Figures and the summary line a newcomer can read (issue 25): the loss axis says what
the loss is, equal metrics draw one line, penalties sit in a panel of their own, node
plots have a legend, categories get discrete colours and names, figures stay at most
~2000 px wide, the summary line prints each figure once and the true error."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from rbfopt.app import plotting
from rbfopt.app.outputs import one_line_summary


def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def history(n: int = 30) -> list[dict[str, float]]:
    rows = []
    for k in range(n):
        rms = 0.01 * 0.9**k
        rows.append(
            {
                "step": k,
                "loss": float(np.log(rms)),
                "grad_norm": 1.0 / (k + 1),
                "objective_rms": rms,
                "rms_error": rms,  # equal to objective_rms, as with objective="exact"
                "barrier": 1e-6 if k in (7, 8, 20) else 0.0,
                "min_spacing": 0.05 - 0.001 * k,
            }
        )
    return rows


def legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [] if leg is None else [t.get_text() for t in leg.get_texts()]


def test_convergence_labels_lines_and_panels():
    fig = plotting._convergence_figure(history(), "study", "ln(RMS error) + barrier")
    loss_ax, metrics_ax, penalty_ax = fig.axes
    assert loss_ax.get_ylabel() == "ln(RMS error) + barrier"
    names = legend_texts(metrics_ax)
    assert "objective_rms = rms_error" in names  # one line for both
    assert len(metrics_ax.get_lines()) == 3  # grad_norm, the pair, min_spacing
    assert not any("barrier" in n for n in names)
    assert legend_texts(penalty_ax) == ["barrier"]
    np.testing.assert_array_equal(penalty_ax.get_lines()[0].get_ydata()[7:9], [1e-6, 1e-6])
    no_label = plotting._convergence_figure(history(), "", None)
    assert no_label.axes[0].get_ylabel() == "loss" and len(no_label.axes) == 3


def test_convergence_without_penalties_has_two_panels():
    rows = [{k: v for k, v in r.items() if k != "barrier"} for r in history()]
    assert len(plotting._convergence_figure(rows, "", None).axes) == 2


def test_nodes_legend(tmp_path):
    x = np.random.default_rng(0).random((40, 2))
    kind = np.zeros(40, int)
    kind[:8], kind[:2] = 1, 2
    fig = plotting._nodes_figure(x, 0.9 * x, None, "t", kind)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["node (colour: spacing)", "boundary node", "fixed node"]
    path = plotting.plot_nodes(x, x, str(tmp_path / "nodes.png"), boundary=kind > 0)
    assert png_size(path)[0] <= 2000


def test_fields_categories_and_width(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((200, 2))
    kind = (x[:, 0] > 0.9).astype(int)
    kind[:3] = 2
    group = np.where(kind > 0, (x[:, 1] > 0.5).astype(int), -1)
    fields = {"u_h": x[:, 0], "kind": kind, "group": group, "u_exact": x[:, 0], "error": x[:, 1]}
    cats = {
        "kind": {0: "interior", 1: "boundary", 2: "fixed"},
        "group": {-1: "interior", 0: "outer", 1: "inlet"},
    }
    fig = plotting._fields_figure(x, fields, None, "t", cats)
    by_title = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert legend_texts(by_title["kind"]) == ["interior", "boundary", "fixed"]
    assert legend_texts(by_title["group"]) == ["interior", "outer", "inlet"]
    path = plotting.plot_fields(x, fields, str(tmp_path / "f.png"), title="t", categories=cats)
    width, height = png_size(path)
    assert width <= 2000 and height < 1200


SUMMARY = {
    "problem": "poisson_nodes",
    "steps": 100,
    "runtime_s": 26.5,
    "initial": {"loss": -4.415, "grad_norm": 4.96, "lr_scale": 1.0, "barrier": 0.0,
                "objective_rms": 0.01209, "rms_error": 0.01209, "min_spacing": 0.05016},
    "final": {"loss": -5.788, "grad_norm": 1.43, "lr_scale": 1.0, "barrier": 0.0,
              "objective_rms": 0.003063, "rms_error": 0.003063, "min_spacing": 0.01651},
}  # fmt: skip


def test_summary_line_prints_each_figure_once():
    line = one_line_summary(SUMMARY, "runs/x")
    assert "\n" not in line
    assert line.count("0.01209") == 1 and line.count("0.003063") == 1
    assert "objective_rms = rms_error 0.01209 -> 0.003063" in line
    assert "true RMS error" not in line  # no report: nothing claimed


def test_summary_line_true_error_and_verdict():
    verdict = "The reference is converged enough for the claimed factor."
    report = {"true_rms_error_initial": 0.0121, "true_rms_error_optimized": 0.00305}
    s = dict(SUMMARY, report=dict(report, reference_verdict=verdict))
    first, second = one_line_summary(s, "runs/x").split("\n")
    assert "true RMS error on the check points 0.0121 -> 0.00305 (3.97x lower)" in first
    assert second == verdict


@pytest.mark.parametrize("n_fields", [1, 4, 7])
def test_fields_at_most_2000_px_wide(tmp_path, n_fields):
    x = np.random.default_rng(2).random((60, 2))
    fields = {f"f{i}": x[:, 0] * i for i in range(n_fields)}
    path = plotting.plot_fields(x, fields, os.path.join(tmp_path, "f.png"))
    assert png_size(path)[0] <= 2000
