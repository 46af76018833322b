"""server.toml's tables (pydantic models): unknown keys at every level, strict types,
required keys, the "auto" threshold, and every problem at once, each named by its path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from linkage.encode import default_segmented_schema
from linkage.errors import ConfigError
from linkage.server import parse_server_config
from linkage.server._config import AUTO_THRESHOLD_START, ServerToml
from linkage.service._probabilistic import LOOKUP_REQUIRES_DEFAULT

pytestmark = pytest.mark.unit

FULL: dict[str, Any] = {
    "server": {"listen": "127.0.0.1:0", "max_workers": 4, "grace_period_s": 2},
    "tls": {
        "trust_domain": "coresponder.example",
        "ca_cert": "pki/ca.pem",
        "cert": "pki/server/cert.pem",
        "key": "pki/server/key.pem",
        "crl": "pki/crl.pem",
    },
    "store": {"engine": "sqlite", "path": "index.db"},
    "linkage": {
        "threshold": "auto",
        "clk_bits": 2688,
        "key_epoch": 1,
        "schema_fingerprint": default_segmented_schema().fingerprint,
        "lookup_threshold": 0.95,
        "clustering": {"method": "average_link", "join_threshold": 0.6},
        "probabilistic": {
            "schema": "default-segmented",
            "refit_on_rebuild": False,
            "min_fit_records": 500,
            "lookup_candidates": 100,
            "blocking": "medium",
            "fit_sample_records": 10_000,
            "auto_refit": False,
            "refit_growth": 2,
            "background_refit_above": 0,
            "prior_strength": 10,
            "lookup_requires": ["date_of_birth"],
            "lookup_scan": True,
        },
    },
    "limits": {
        "max_batch_mutations": 500,
        "max_message_bytes": 4096,
        "lookup_rate_per_s": 2,
        "lookup_burst": 5,
        "max_links_per_lookup": 3,
        "lookup_agency_rate_per_s": 4,
        "lookup_agency_burst": 9,
    },
    "metrics": {"listen": "127.0.0.1:9464"},
}


def with_value(path: str, value: object) -> dict[str, Any]:
    """FULL with the key at the dotted ``path`` set to ``value`` (``...`` removes it)."""
    data = copy.deepcopy(FULL)
    *tables, key = path.split(".")
    table = data
    for name in tables:
        table = table.setdefault(name, {})
    if value is ...:
        del table[key]
    else:
        table[key] = value
    return data


def problems_of(data: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_server_config(data, tmp_path, {})
    assert caught.value.message == "invalid server configuration"
    return {p.location: p.reason for p in caught.value.problems}


def test_every_key_of_every_table_is_read(tmp_path: Path) -> None:
    config = parse_server_config(FULL, tmp_path, {})
    assert (config.listen, config.max_workers, config.grace_period_s) == ("127.0.0.1:0", 4, 2.0)
    assert config.tls is not None
    assert config.tls.crl == tmp_path / "pki/crl.pem"
    assert config.metrics_listen == "127.0.0.1:9464"
    limits = config.limits
    assert (limits.max_batch_mutations, limits.lookup_rate_per_s, limits.max_links_per_lookup) == (
        500,
        2.0,
        3,
    )
    assert (limits.agency_rate_per_s, limits.agency_burst) == (4.0, 9)
    linkage = config.linkage
    assert linkage.auto_threshold
    assert linkage.threshold == AUTO_THRESHOLD_START
    assert linkage.lookup_threshold == 0.95
    assert linkage.clustering.join_threshold == 0.6
    prob = linkage.probabilistic
    assert prob is not None
    assert not prob.refit_on_rebuild
    assert (prob.min_fit_records, prob.lookup_candidates, prob.fit_sample_records) == (
        500,
        100,
        10_000,
    )
    assert prob.blocking_preset == "medium"
    assert not prob.auto_refit
    assert (prob.refit_growth, prob.background_refit_above, prob.prior_strength) == (2.0, 0, 10.0)
    assert prob.lookup_requires == ("date_of_birth",)
    assert prob.lookup_scan


def test_left_out_keys_take_the_domain_objects_defaults(tmp_path: Path) -> None:
    data = copy.deepcopy(FULL)
    data["linkage"]["probabilistic"] = {"schema": "default-segmented"}
    data["linkage"]["threshold"] = 0.5
    prob = parse_server_config(data, tmp_path, {}).linkage.probabilistic
    assert prob is not None
    assert prob.lookup_requires == LOOKUP_REQUIRES_DEFAULT
    assert prob.blocking_preset == "auto"
    assert prob.refit_on_rebuild
    assert prob.auto_refit
    assert not prob.lookup_scan


@pytest.mark.parametrize(
    ("where", "closest", "what"),
    [
        ("colour", None, "server.toml takes server, tls, store, linkage, limits, metrics"),
        ("server.listn", "listen", "[server] takes listen, max_workers, grace_period_s"),
        ("tls.ca_certs", "ca_cert", "[tls] takes ca_cert, cert, key, crl, trust_domain"),
        ("store.dsn", "dsn_env", "[store] takes engine, path, dsn_env"),
        ("linkage.treshold", "threshold", "[linkage] takes threshold, clk_bits"),
        ("linkage.clustering.join", "join_threshold", "[linkage.clustering] takes method"),
        ("linkage.probabilistic.refit_grow", "refit_growth", "[linkage.probabilistic] takes"),
        ("linkage.probabilistic.auto_refits", "auto_refit", "[linkage.probabilistic] takes"),
        ("limits.lookup_bursts", "lookup_burst", "[limits] takes max_batch_mutations"),
        ("metrics.path", None, "[metrics] takes listen"),
    ],
)
def test_an_unknown_key_at_any_level_is_named_with_the_closest_valid_one(
    tmp_path: Path, where: str, closest: str | None, what: str
) -> None:
    problems = problems_of(with_value(where, 1), tmp_path)
    assert list(problems) == [where]
    kind = "table" if "." not in where else "key"
    hint = f"did you mean {closest}? " if closest else ""
    assert problems[where].startswith(f"unknown {kind}; {hint}({what}")


def test_unknown_keys_of_blocking_and_dask_are_named(tmp_path: Path) -> None:
    data = copy.deepcopy(FULL)
    data["linkage"]["probabilistic"] = None
    del data["linkage"]["probabilistic"]
    data["linkage"].update(
        threshold=0.8,
        clk_bits=1024,
        schema_fingerprint="ab" * 16,
        clustering={},
        blocking={"method": "hamming_lsh", "band": 8},
        dask={"scheduler": "tcp://h:1", "blocksize": 5},
    )
    problems = problems_of(data, tmp_path)
    assert problems["linkage.blocking.band"].startswith("unknown key; did you mean bands?")
    assert problems["linkage.dask.blocksize"].startswith("unknown key; did you mean block_size?")
    assert set(problems) == {"linkage.blocking.band", "linkage.dask.blocksize"}


@pytest.mark.parametrize(
    ("where", "value", "reason"),
    [
        ("server.listen", 50051, "must be host:port"),
        ("server.max_workers", 2.5, "must be an integer"),
        ("server.grace_period_s", "10s", "must be a number"),
        ("tls.cert", 1, "must be a string"),
        ("tls.key", "", "must not be empty"),
        ("store.engine", "oracle", "must be sqlite or postgres"),
        ("store.path", ["a"], "must be a string"),
        ("linkage.threshold", True, 'must be a number or "auto"'),
        ("linkage.threshold", "automatic", 'must be a number or "auto"'),
        ("linkage.lookup_threshold", "high", "must be a number"),
        ("linkage.clustering", "average_link", "must be a table"),
        ("linkage.clustering.merge_threshold", "0.9", "must be a number"),
        ("linkage.probabilistic.refit_on_rebuild", "yes", "must be true or false"),
        ("linkage.probabilistic.min_fit_records", 1000.0, "must be an integer"),
        ("linkage.probabilistic.lookup_candidates", True, "must be an integer"),
        ("linkage.probabilistic.blocking", 3, "must be a string"),
        ("linkage.probabilistic.fit_sample_records", "many", "must be an integer"),
        ("linkage.probabilistic.auto_refit", 1, "must be true or false"),
        ("linkage.probabilistic.refit_growth", "1.5", "must be a number"),
        ("linkage.probabilistic.background_refit_above", 0.5, "must be an integer"),
        ("linkage.probabilistic.prior_strength", False, "must be a number"),
        ("linkage.probabilistic.lookup_requires", "given_name", "must be a list of comparison"),
        ("linkage.probabilistic.lookup_requires", ["given_name", 2], "must be a list of comp"),
        ("linkage.probabilistic.lookup_scan", "no", "must be true or false"),
        ("limits.lookup_rate_per_s", "10/s", "must be a number"),
        ("limits.lookup_burst", 5.0, "must be an integer"),
        ("metrics", "127.0.0.1:9464", "must be a table"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_what_it_must_be(
    tmp_path: Path, where: str, value: object, reason: str
) -> None:
    problems = problems_of(with_value(where, value), tmp_path)
    assert list(problems) == [where]
    assert problems[where].startswith(reason)


@pytest.mark.parametrize(
    "where",
    [
        "server.listen",
        "tls.ca_cert",
        "tls.trust_domain",
        "linkage.threshold",
        "linkage.clk_bits",
        "linkage.key_epoch",
        "linkage.schema_fingerprint",
        "linkage.probabilistic.schema",
        "metrics.listen",
    ],
)
def test_a_missing_required_key_is_named_as_required(tmp_path: Path, where: str) -> None:
    problems = problems_of(with_value(where, ...), tmp_path)
    assert list(problems) == [where]
    assert problems[where].startswith("is required")


def test_left_out_tables_name_each_of_their_required_keys(tmp_path: Path) -> None:
    problems = problems_of({"store": {"path": "x.db"}}, tmp_path)
    assert problems == {
        "server.listen": "is required (host:port)",
        "linkage.threshold": 'is required (a number or "auto")',
        "linkage.clk_bits": "is required",
        "linkage.key_epoch": "is required",
        "linkage.schema_fingerprint": "is required",
    }


def test_the_auto_threshold_needs_a_model(tmp_path: Path) -> None:
    data = copy.deepcopy(FULL)
    del data["linkage"]["probabilistic"]
    data["linkage"].update(clk_bits=1024, schema_fingerprint="ab" * 16, clustering={})
    problems = problems_of(data, tmp_path)
    assert problems == {"linkage.threshold": '"auto" needs linkage.probabilistic (a model)'}
    data["linkage"]["threshold"] = 0.7
    config = parse_server_config(data, tmp_path, {})
    assert (config.linkage.threshold, config.linkage.auto_threshold) == (0.7, False)


def test_type_and_value_problems_of_several_tables_are_named_at_once(tmp_path: Path) -> None:
    data = copy.deepcopy(FULL)
    data["server"]["colour"] = "blue"
    data["linkage"]["probabilistic"].update(refit_growth=1.0, lookup_scan="yes", colour=1)
    data["linkage"]["probabilistic"]["prior_strength"] = -1
    data["limits"].update(lookup_burst=0, max_message_bytes="big")
    data["linkage"]["clustering"]["merge_threshold"] = 0.5
    problems = problems_of(data, tmp_path)
    assert set(problems) == {
        # shapes and types (the tables' models)
        "server.colour",
        "linkage.probabilistic.lookup_scan",
        "linkage.probabilistic.colour",
        "limits.max_message_bytes",
        # values (the domain objects, built from what was valid)
        "linkage.probabilistic.refit_growth",
        "linkage.probabilistic.prior_strength",
        "linkage.clustering.merge_threshold",
        "limits.lookup_burst",
    }
    assert problems["linkage.probabilistic.refit_growth"] == "must be in [1.05, 100]"
    assert problems["limits.max_message_bytes"] == "must be an integer"


def test_values_never_appear_in_the_problems(tmp_path: Path) -> None:
    secret = "postgresql://user:hunter2@db/x"
    data = copy.deepcopy(FULL)
    data["store"] = {"engine": secret, "dsn_env": 5}
    data["linkage"]["threshold"] = secret
    with pytest.raises(ConfigError) as caught:
        parse_server_config(data, tmp_path, {})
    assert "hunter2" not in str(caught.value.message)
    assert all("hunter2" not in p.reason for p in caught.value.problems)


def test_the_document_model_lists_the_tables() -> None:
    assert list(ServerToml.model_fields) == [
        "server",
        "tls",
        "store",
        "linkage",
        "limits",
        "metrics",
    ]
