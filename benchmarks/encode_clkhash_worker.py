"""Runs INSIDE the clkhash 0.18.3 virtualenv for benchmarks/bench_encode.py.

argv[1]: a JSON file {"schema": {...}, "secret_hex": str, "warmup": path, "datasets": {name: path}}
where each path is a JSON file holding a list of rows (lists of strings).
Prints JSON: per dataset and mode (one process / clkhash's default multiprocessing),
the seconds of one warm encode and the SHA-256 of the concatenated CLK bytes.
"""

import hashlib
import json
import sys
import time

from clkhash import clk, schema


def digest(clks):
    h = hashlib.sha256()
    for bloom in clks:
        h.update(bloom.tobytes())
    return h.hexdigest()


def main():
    with open(sys.argv[1]) as handle:
        job = json.load(handle)
    linkage_schema = schema.from_json_dict(job["schema"])
    secret = bytes.fromhex(job["secret_hex"])
    with open(job["warmup"]) as handle:
        warmup = json.load(handle)
    clk.generate_clks(
        warmup, linkage_schema, secret, max_workers=1
    )  # imports, caches, JIT-free warm-up
    out = {}
    for name, path in job["datasets"].items():
        with open(path) as handle:
            rows = json.load(handle)
        result = {}
        # clkhash's multiprocessing first: its forked workers inherit only the warm-up caches.
        for mode, workers in (("default_workers", None), ("one_process", 1)):
            started = time.perf_counter()
            clks = clk.generate_clks(rows, linkage_schema, secret, max_workers=workers)
            seconds = time.perf_counter() - started
            result[mode] = {"seconds": seconds, "sha256": digest(clks), "count": len(clks)}
        out[name] = result
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
