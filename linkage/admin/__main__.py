"""``python -m linkage.admin`` runs the same CLI as the ``linkage-admin`` script."""

from linkage.admin.cli import main

main()
