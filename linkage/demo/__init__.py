"""``./dev.sh demo``: a small co-responder scenario, end to end, through the real CLIs.

What it does, in a fresh work folder (default ``./demo-run/``, git-ignored):

1. generates a demo PKI (CA, matcher, operator, and per agency an IT and a
   gateway certificate) and a fresh linkage secret;
2. generates four agencies' messy exports with :mod:`linkage.synth` (police,
   mental-health centre, hospital ER, substance-use programme), keeping the truth
   file for the evaluation only;
3. starts the matcher (``linkage-server serve``, SQLite, mutual TLS) as a subprocess
   and enrols the agencies (``linkage-admin agency create``);
4. runs ``agency-client init`` and ``agency-client upload`` for each agency in turn,
   so links form incrementally, then a delta upload of a changed police export;
5. starts the police's responder gateway (``agency-client gateway``) and looks a
   person up: the mental-health centre's card shows, the substance-use
   programme's record (no consent) stays hidden; after ``agency-client consent
   set`` it shows; after ``agency-client withdraw`` it is gone; the centre opens
   the pointer token it was shown with ``agency-client deref``;
6. prints pairwise precision, recall and F1 per agency pair against the truth, read
   from the matcher's store (an operator-side evaluation).

The server and gateway are stopped in ``finally``; nothing is left running.
:class:`DemoRun` exposes each step so the end-to-end test can assert on all of them.
"""

from linkage.demo._cli import main
from linkage.demo._run import DemoRun
from linkage.demo._scenario import (
    PROTAGONIST,
    PROTAGONIST_QUERY,
    UNKNOWN_QUERY,
    CliResult,
    DemoError,
    PairQuality,
    default_threshold,
)
from linkage.demo._story import run_demo

__all__ = [
    "PROTAGONIST",
    "PROTAGONIST_QUERY",
    "UNKNOWN_QUERY",
    "CliResult",
    "DemoError",
    "DemoRun",
    "PairQuality",
    "default_threshold",
    "main",
    "run_demo",
]
