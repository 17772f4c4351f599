"""The pieces of a study's global RBF-FD system: its row sets and weight builder.

Row sets are static (from the node kinds and groups, which an optimization keeps);
nodes, normals and stencils may be traced. The system itself is assembled by
:func:`rbfopt.fd.assemble` and :func:`rbfopt.fd.right_hand_side`, the one assembly path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._util import pad_rows
from ..fd.blend import blended_weights, tapered_weights
from ..fd.conditions import Condition
from ..fd.nested import nested_weights
from ..fd.weights import build_weights
from ..operators import Identity
from ..stencils import find_neighbors


@dataclass(frozen=True)
class Rows:
    """Which equation each node owns: interior rows, and per boundary group with nodes
    its condition and rows (``boundary``) and its name (``names``, aligned)."""

    interior: np.ndarray
    boundary: tuple[tuple[Condition, np.ndarray], ...]
    names: tuple[str, ...] = ()


#: Rows of one rematerialized block of a large weight build in a study's loss: its
#: gradient then holds one block's intermediates (~8 KB per row, blended) at a time
#: instead of every row's, for the price of one more forward build of the rows.
BLOCK_ROWS = 131_072


def weights_for(
    blend: int, taper: float, kind: str = "sizes", block: int = BLOCK_ROWS, per_node: bool = False
):
    """The weight builder of a study: plain k-nearest stencils (``blend=0``),
    :func:`~rbfopt.fd.blend.blended_weights` over ``blend`` sizes (``kind="sizes"``),
    or :func:`~rbfopt.fd.blend.tapered_weights` (``kind="taper"``, ``blend=2``);
    stencils then carry ``k + blend`` neighbours. Builds of more than ``block`` rows
    run in blocks (:func:`in_blocks`). ``per_node``: a basis ``eps`` of shape (N,) is
    one value per node, each stencil taking its first node's (:func:`per_node_eps`)."""
    if blend == 0:
        build = build_weights
    elif kind == "taper":
        build = partial(tapered_weights, taper=taper)
    else:
        build = partial(blended_weights, sizes=blend, taper=taper)
    return in_blocks(per_node_eps(build) if per_node else build, block)


def per_node_eps(build):
    """``build`` (``build_weights``' signature) for a basis whose ``eps`` is one value per
    *node*, shape (N,): each stencil's row takes the value of its first node, the node
    itself for a node's own stencil (self first) and the nearest node for a stencil of
    another point. A scalar ``eps`` passes through.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> from rbfopt.fd.weights import build_weights
      >>> t = np.linspace(0.0, 1.0, 6)
      >>> x = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
      >>> adjl = ro.find_neighbors(x, 12)
      >>> eps = np.linspace(1.0, 3.0, len(x))
      >>> w = per_node_eps(build_weights)(ro.Laplacian(), x, x[[7, 9]], adjl[[7, 9]],
      ...                                 ro.IMQ(eps=eps))
      >>> one = build_weights(ro.Laplacian(), x, x[[9]], adjl[[9]], ro.IMQ(eps=eps[9]))
      >>> bool(np.allclose(w[1], one[0]))
      True
    """

    def gathered(op, x, pts, adjl, basis):
        if basis.eps is not None and jnp.ndim(basis.eps) == 1:
            first = adjl[:, 0]
            basis = jax.tree_util.tree_map(lambda e: jnp.asarray(e)[first], basis)
        return build(op, x, pts, adjl, basis)

    return gathered


def in_blocks(build, block: int):
    """``build(op, x, pts, adjl, basis)`` over row blocks of ``block`` rows, each under
    ``jax.checkpoint``: the same weights, with reverse-mode memory of one block."""

    def blocked(op, x, pts, adjl, basis):
        m = adjl.shape[0]
        if m <= block:
            return build(op, x, pts, adjl, basis)
        nb = -(-m // block)

        @jax.checkpoint
        def one(rows):
            return build(op, x, rows[0], rows[1], basis)

        split = [pad_rows(a, nb * block).reshape((nb, block) + a.shape[1:]) for a in (pts, adjl)]
        w = jax.lax.map(one, tuple(split))
        # a family build returns a list of arrays: one per member
        return jax.tree.map(lambda a: a.reshape((nb * block,) + a.shape[2:])[:m], w)

    return blocked


class SharedWeights:
    """Weight builders (``build_weights``' signature) for a family of plain stencil
    sizes ``sizes`` that share one :func:`~rbfopt.fd.nested_weights` build per row set.

    ``member(s)`` is member s's builder for :func:`rbfopt.fd.assemble`, which calls it
    once per row set, in the same order for every member; each member assembles with
    the widest stencils ``adjl`` (its weights come zero past its own size: slice its
    matrix to its width). The first member to reach a row set builds every member's
    weights there; the others take theirs. ``per_node``: as in :func:`weights_for`.
    """

    def __init__(self, sizes: tuple[int, ...], block: int = BLOCK_ROWS, per_node: bool = False):
        self.sizes = sizes
        build = partial(nested_weights, sizes=sizes)
        self.build = in_blocks(per_node_eps(build) if per_node else build, block)
        self.built: list[list] = []
        self.calls = [0] * len(sizes)

    def member(self, s: int):
        def build(op, x, pts, adjl, basis):
            j = self.calls[s]
            self.calls[s] += 1
            if j == len(self.built):
                self.built.append(self.build(op, x, pts, adjl, basis))
            w = self.built[j][s]
            if w.shape[0] != pts.shape[0]:
                raise RuntimeError("SharedWeights: the members' row sets differ")
            pad = [(0, 0), (0, adjl.shape[1] - w.shape[1])] + [(0, 0)] * (w.ndim - 2)
            return jnp.pad(w, pad)

        return build


def with_eps(basis: Any, eps: Any) -> Any:
    """``basis`` with the shape parameter ``eps`` (traced or not, unchecked: a pytree leaf)."""
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(basis), [eps])


def interpolate(points: np.ndarray, u: Any, y: np.ndarray, basis: Any, k: int) -> jax.Array:
    """Local RBF interpolation of nodal values ``u`` at ``points`` onto ``y`` (host stencils)."""
    adjl = jnp.asarray(find_neighbors(points, k, y))
    w = build_weights(Identity(), jnp.asarray(points), jnp.asarray(y), adjl, basis)
    return jnp.sum(w * jnp.asarray(u)[adjl], axis=1)
