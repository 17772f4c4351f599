"""A layout for two solvers at once: an RBF-FD study and a finite-element study on the
same nodes (``discretization={"rbf-fd": w_r, "p2": w_f}``).

One set of parameters moves the nodes of both (the RBF-FD study's movement); the loss
is ``w_r L_rbf + w_f L_fem``, each with its own barrier (separation of the nodes, shape
of the triangles). Both are log errors, so the weights trade relative gains. ``aux``
holds both: the RBF-FD stencils and the triangulation. The exported ``mesh.msh`` is the
triangulation the finite-element term saw; the report carries both studies' figures.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..problem import Problem
from . import _report


class MixedStudy:
    """The callables of a mixed RBF-FD / finite-element study (see the module docstring)."""

    def __init__(self, rbf: Any, fem: Any, w_rbf: float, w_fem: float) -> None:
        self.rbf, self.fem, self.w_rbf, self.w_fem = rbf, fem, w_rbf, w_fem

    def loss(self, p: dict, aux: tuple) -> tuple[jax.Array, dict]:
        v_rbf, m_rbf, _ = self.rbf.evaluate(p, aux[0])
        v_fem, m_fem, _ = self.fem.evaluate(p, aux[1])
        metrics = {**m_rbf, **{f"fem_{k}": v for k, v in m_fem.items()}}
        metrics.update(loss_rbf_fd=v_rbf, loss_fem=v_fem)
        return self.w_rbf * v_rbf + self.w_fem * v_fem, metrics

    def restencil(self, p: dict) -> tuple:
        return self.rbf.restencil(p), self.fem.restencil(p)

    def report(self, p: dict) -> dict[str, Any]:
        """The finite-element report, with the RBF-FD study's under ``rbf_fd``."""
        out = self.fem.report(p)
        out["rbf_fd"] = _report.report(self.rbf, p)
        out["weights"] = {"rbf-fd": self.w_rbf, f"p{self.fem.degree}": self.w_fem}
        return out

    def problem(self) -> Problem:
        dom = self.rbf.domain
        return Problem(
            name=self.rbf.opts.name,
            init=self.rbf.init,
            loss=self.loss,
            project=self.rbf.project,
            restencil=self.restencil,
            to_mesh=self.fem.to_mesh,
            report=self.report,
            inside=lambda pts: np.asarray(dom.contains(np.asarray(pts)[:, : dom.dim])),
            domain=dom,
            loss_label="RBF-FD log error + finite-element objective + barriers",
        )
