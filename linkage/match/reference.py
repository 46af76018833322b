"""Pure-Python references of the fast kernels, with the same signatures (for tests)."""

from linkage.match._greedy import greedy_solve_reference
from linkage.match._reference import (
    dice_join_multiparty_reference,
    dice_join_reference,
    dice_self_join_reference,
    lookup_reference,
    popcounts_reference,
)

__all__ = [
    "dice_join_multiparty_reference",
    "dice_join_reference",
    "dice_self_join_reference",
    "greedy_solve_reference",
    "lookup_reference",
    "popcounts_reference",
]
