"""``python -m linkage.demo``: see :mod:`linkage.demo`."""

from linkage.demo._cli import main

main()
