"""The family of RBF-FD discretizations a node-layout study's loss combines.

A layout tuned to one stencil set learns that set's cancellations: another stencil size
in another code sees it no better, or worse. The study's loss is therefore the mean of
the log errors of several discretizations of the same problem on the same nodes,

    loss = 1/M sum_m log rms(u_h^(m) - u*) + barrier,

so a layout only gains by what every member gains. Members differ in stencil size
``k``, in how the weights stay continuous as neighbour lists change (``blend``,
``blend_kind``, see :func:`rbfopt.fd.blended_weights` and
:func:`rbfopt.fd.tapered_weights`) and optionally in the basis. They share one
neighbour search (the largest member's stencils; a smaller member takes their first
columns, as neighbours are sorted by distance).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from .._util import check_int
from ..basis import RadialBasis

__all__ = ["Discretization", "family", "default_family", "sizes_from_text", "FAMILY_OFFSETS"]

#: Stencil sizes of the default family, added to the study's ``k`` (16 for PHS3 +
#: quadratics in 2-D): the range of sizes users pick, 12 to 30, ``k`` first (its
#: solution is the one exported). Plain k-nearest members, as most RBF-FD codes build
#: them. Without k - 4 the layout was 4x worse at k = 12 (docs/guides/studies.md).
FAMILY_OFFSETS = (0, -4, 4, 8, 14)

_KINDS = ("sizes", "taper")


def check_blend(blend: Any, blend_kind: Any) -> None:
    """``blend`` (blended stencil sizes, 0: plain) and ``blend_kind`` fit together: a
    ValueError naming the field that does not."""
    check_int("blend", blend, 0, 8, what="number of blended stencil sizes")
    if blend_kind not in _KINDS:
        raise ValueError(f"blend_kind: expected 'sizes' or 'taper', got {blend_kind!r}")
    if blend_kind == "taper" and blend not in (0, 2):
        raise ValueError(
            f"blend_kind: 'taper' spans two stencil sizes (blend=2), got blend={blend}"
        )


@dataclasses.dataclass(frozen=True)
class Discretization:
    """One RBF-FD discretization of a study's problem: stencil size ``k``, continuity
    of the weights (``blend`` sizes of kind ``blend_kind``; ``blend=0`` plain
    k-nearest weights), and the basis (``None``: the study's).

    Examples:
      >>> from rbfopt.studies import Discretization
      >>> Discretization(20).label
      'k=20 plain'
      >>> Discretization(24, blend=2).label
      'k=24 taper'
    """

    k: int
    blend: int = 0
    blend_kind: str = "taper"
    basis: RadialBasis | None = None

    def __post_init__(self) -> None:
        check_int("k", self.k, 2, what="stencil size")
        check_blend(self.blend, self.blend_kind)
        if self.basis is not None and not isinstance(self.basis, RadialBasis):
            raise ValueError(f"basis: expected an rbfopt basis, got {type(self.basis).__name__}")

    @property
    def width(self) -> int:
        """Neighbours per stencil the member reads (``k + blend``)."""
        return self.k + self.blend

    @property
    def label(self) -> str:
        text = f"k={self.k} " + ("plain" if self.blend == 0 else self.blend_kind)
        return text if self.basis is None else f"{text} {self.basis!r}"


def default_family(
    k: int, blend: int = 0, blend_kind: str = "taper", least: int = 2
) -> tuple[Discretization, ...]:
    """Stencil sizes ``k + FAMILY_OFFSETS`` of at least ``least``, with the given weights.

    Examples:
      >>> [d.k for d in default_family(16)]
      [16, 12, 20, 24, 30]
      >>> [d.k for d in default_family(12, least=12)]
      [12, 16, 20, 26]
    """
    sizes = [k + o for o in FAMILY_OFFSETS if k + o >= least]
    return tuple(Discretization(m, blend, blend_kind) for m in sizes)


def family(
    discretizations: Any, k: int, blend: int = 0, blend_kind: str = "taper", least: int = 2
) -> tuple[Discretization, ...]:
    """The checked family from a user's ``discretizations`` argument.

    ``None`` is :func:`default_family` of ``k`` (sizes of at least ``least``);
    otherwise a non-empty sequence whose entries are a stencil size (an int, with the
    given ``blend`` and ``blend_kind``), a dict of :class:`Discretization` fields, or a
    :class:`Discretization`.

    Raises:
      ValueError: naming ``discretizations[i]`` for an entry that is none of these, or
        whose fields are out of range; ``discretizations`` when empty or with repeats.

    Examples:
      >>> [d.label for d in family([16, {"k": 24, "blend": 2}], k=16)]
      ['k=16 plain', 'k=24 taper']
      >>> family([16, "big"], k=16)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: discretizations[1]: expected a stencil size (int), a dict ...
    """
    if discretizations is None:
        return default_family(k, blend, blend_kind, least)
    if isinstance(discretizations, (str, bytes, Mapping)) or not isinstance(
        discretizations, Sequence
    ):
        raise ValueError(
            "discretizations: expected a sequence of stencil sizes, dicts or "
            f"Discretization objects, got {type(discretizations).__name__}"
        )
    if len(discretizations) == 0:
        raise ValueError("discretizations: the family is empty; give at least one member")
    members = tuple(
        _member(i, d, blend, blend_kind) for i, d in enumerate(discretizations)
    )  # fmt: skip
    seen: dict[Discretization, int] = {}
    for i, m in enumerate(members):
        if m in seen:
            raise ValueError(
                f"discretizations[{i}]: repeats discretizations[{seen[m]}] ({m.label})"
            )
        seen[m] = i
    return members


def _member(i: int, d: Any, blend: int, blend_kind: str) -> Discretization:
    where = f"discretizations[{i}]"
    try:
        if isinstance(d, Discretization):
            return d
        if isinstance(d, Mapping):
            fields = {f.name for f in dataclasses.fields(Discretization)}
            unknown = sorted(set(d) - fields)
            if unknown:
                raise ValueError(f"unknown fields {unknown}; known: {sorted(fields)}")
            if "k" not in d:
                raise ValueError("needs the stencil size 'k'")
            return Discretization(**{"blend": blend, "blend_kind": blend_kind, **d})
        if isinstance(d, int) and not isinstance(d, bool):
            return Discretization(d, blend, blend_kind)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    raise ValueError(
        f"{where}: expected a stencil size (int), a dict of Discretization fields or a "
        f"Discretization, got {d!r}"
    )


def sizes_from_text(text: str) -> list[int] | None:
    """Stencil sizes from a command-line value (``-O family=16,20,24``); ``""`` or
    ``"default"``: None (the default family).

    Examples:
      >>> sizes_from_text("16, 22,30"), sizes_from_text("")
      ([16, 22, 30], None)
    """
    if text.strip() in ("", "default"):
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(
            f"family: expected stencil sizes separated by commas (e.g. 16,20,24), got {text!r}"
        ) from None
