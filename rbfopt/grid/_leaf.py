"""Pytree protocol shared by the rules that carry one traced value (Deriv1, Deriv2,
FillExtrap): the frozen dataclass's only field, ``value``, is the leaf."""

from __future__ import annotations


class ValueLeaf:
    """Mixin: flatten ``self.value`` as the single leaf; rebuild with ``cls(value)``."""

    def tree_flatten(self):
        return (self.value,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0])
