"""``linkage-admin``: the operator's command line (PKI now; audit, reports and rebuilds later).

The root group lives in :mod:`linkage.admin.cli`; each family of commands is a
click group in its own module, registered by name in ``cli.SUBCOMMANDS`` and
imported only when used.
"""
