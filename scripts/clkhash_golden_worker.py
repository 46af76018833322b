"""Runs INSIDE the clkhash 0.18.3 virtualenv: encode golden cases one row at a time.

stdin: ``{"cases": [{"name", "schema", "secret_hex", "rows": [[str, ...], ...]}, ...]}``
stdout: ``{"results": [[{"clk": base64} | {"error": ExceptionName}, ...], ...]}``
"""

import base64
import json
import sys

from clkhash import clk, schema


def main() -> None:
    payload = json.load(sys.stdin)
    results = []
    for case in payload["cases"]:
        linkage_schema = schema.from_json_dict(case["schema"])
        secret = bytes.fromhex(case["secret_hex"])
        out = []
        for row in case["rows"]:
            try:
                bloom = clk.generate_clks([row], linkage_schema, secret, max_workers=1)[0]
                out.append({"clk": base64.b64encode(bloom.tobytes()).decode("ascii")})
            except Exception as exc:
                out.append({"error": type(exc).__name__})
        results.append(out)
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
