"""Query parameters of the lineage walk (the rest are the shared ones of `governance.api.params`)."""

from governance.api.params import choice, integer
from lineage.read.graph import DIRECTIONS

MAX_DEPTH = 100


def walk_direction(params) -> str:
    return choice(params, "direction", DIRECTIONS, "both")


def walk_depth(params, default: int = 20) -> int:
    return integer(params, "depth", default, minimum=0, maximum=MAX_DEPTH)
