"""The pure numpy/numba matching core: similarity joins, blocking, solving, lookup."""
