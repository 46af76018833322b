"""The shipped, commented ``server.toml`` of each linkage mode.

``linkage/server/samples/server-probabilistic.toml`` (the recommended mode) and
``server-dice.toml`` are templates with placeholders for the paths, the trust domain and
the built-in schema's CLK length and fingerprint. :func:`sample_server_config` fills them;
``linkage-server init-config`` writes one, and the demo runs the matcher with one, so the
configuration a new operator starts from is the one that is tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Final

from linkage.errors import ConfigError, Problem

__all__ = ["LINKAGE_MODES", "SampleSettings", "sample_server_config"]

#: The modes a sample exists for.
LINKAGE_MODES: Final = ("probabilistic", "dice")
#: The Dice threshold of the dice sample: the shipped hardened schema's calibrated one.
DICE_THRESHOLD: Final = 0.55


@dataclass(frozen=True, slots=True)
class SampleSettings:
    """What a sample needs filled in (paths relative to the server.toml's folder)."""

    listen: str = "127.0.0.1:50051"
    trust_domain: str = "coresponder.example"
    ca_cert: str = "pki/ca.cert.pem"
    cert: str = "pki/server/matcher.cert.pem"
    key: str = "pki/server/matcher.key.pem"
    crl: str = "pki/crl.pem"
    store_path: str = "matcher/index.sqlite"
    dice_threshold: float = DICE_THRESHOLD
    #: probabilistic mode: a fixed match probability instead of "auto"
    probability_threshold: float | None = None
    grace_period_s: float = 10


def _check(value: str, name: str) -> None:
    if any(ch in value for ch in '"\\\n\r') or not value:
        raise ConfigError(
            "invalid sample configuration",
            problems=[Problem(name, "must be non-empty, without quotes, backslashes or newlines")],
        )


def sample_server_config(linkage: str, settings: SampleSettings | None = None) -> str:
    """The commented server.toml for a linkage mode (:data:`LINKAGE_MODES`), filled in."""
    from linkage.encode import (
        default_schema,
        default_segmented_schema,
        schema_fingerprint,
        segment_layout,
    )

    if linkage not in LINKAGE_MODES:
        raise ConfigError(
            "invalid sample configuration",
            problems=[Problem("linkage", f"must be one of {', '.join(LINKAGE_MODES)}")],
        )
    chosen = settings or SampleSettings()
    for name in ("listen", "trust_domain", "ca_cert", "cert", "key", "crl", "store_path"):
        _check(getattr(chosen, name), name)
    if linkage == "probabilistic":
        segmented = default_segmented_schema()
        layout = segment_layout(segmented.schema.length, segmented.segmentation)
        clk_bits, fingerprint = layout.total_words * 64, segmented.fingerprint
    else:
        schema = default_schema()
        clk_bits, fingerprint = schema.length, schema_fingerprint(schema)
    template = (
        resources.files("linkage.server.samples")
        .joinpath(f"server-{linkage}.toml")
        .read_text("utf-8")
    )
    text = template.format(
        listen=chosen.listen,
        trust_domain=chosen.trust_domain,
        ca_cert=chosen.ca_cert,
        cert=chosen.cert,
        key=chosen.key,
        crl=chosen.crl,
        store_path=chosen.store_path,
        clk_bits=clk_bits,
        fingerprint=fingerprint,
        threshold=chosen.dice_threshold,
    )
    text = text.replace("grace_period_s = 10 ", f"grace_period_s = {chosen.grace_period_s:g} ")
    if linkage == "probabilistic" and chosen.probability_threshold is not None:
        text = text.replace(
            'threshold = "auto"\n', f"threshold = {chosen.probability_threshold}\n", 1
        )
    return text
