"""warm_up_linker (linkage/probabilistic/_warmup.py): a fresh process that warms a linker up
has every kernel of a lookup's and a batch's scoring loaded before its first request."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_a_warmed_up_process_has_the_scoring_kernels_loaded() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, "tests/probabilistic")
        import numpy as np
        from test_prob_batch_screen import _linker
        from keyed_helpers import KEYED_LAYOUT, keyed_records
        from linkage.probabilistic import TermFrequencies, warm_up_linker
        from linkage.probabilistic import _comparison, _model
        linker = _linker()
        before = [len(k.signatures) for k in (_comparison._levels_serial, _model._weights_serial)]
        frequencies = TermFrequencies.of(keyed_records(50, 1), KEYED_LAYOUT, ("name",))
        seconds = warm_up_linker(linker, frequencies)
        after = [len(k.signatures) for k in (_comparison._levels_serial, _model._weights_serial)]
        print(before, after, seconds >= 0.0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["[0,", "0]", "[1,", "1]", "True"]
