"""agency.toml's tables (pydantic models): parsed once, unknown keys in every table, strict
types, required keys of the workflow commands, and both halves' problems at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agency_client import _tables as tables
from agency_client import load_agency_config, sample_path
from agency_client._client_config import load_client_config
from agency_client._tables import FEATURE_KEYS, AgencyToml, ClientToml
from linkage.errors import ConfigError

pytestmark = pytest.mark.unit

WORKFLOW = """
[matcher]
address = "localhost:50051"
ca_cert = "tls/ca.pem"
cert = "tls/agency/cert.pem"
key = "tls/agency/key.pem"
batch_size = 500

[pointer]
key_file = "pointer.key"

[state]
file = "state/upload-state.sqlite"

[consent]
disclose = true
allow_linkage = true
recipient_roles = ["responder"]
recipient_agencies = []
purposes = ["crisis_response"]
expires = "2099-06-30"

[gateway]
listen = "127.0.0.1:8765"
purpose = "crisis_response"
token_file = "gateway.token"
max_links = 7
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder whose agency.toml is the sample plus an agency ID and the workflow tables."""
    text = sample_path("agency.toml").read_text(encoding="utf-8")
    text = text.replace("[agency]\n", '[agency]\nid = "valley-mhc"\n', 1) + WORKFLOW
    (tmp_path / "agency.toml").write_text(text, encoding="utf-8")
    shutil.copyfile(sample_path("valley-mhc-export.csv"), tmp_path / "export.csv")
    (tmp_path / "linkage-secret.key").write_text("k" * 64 + "\n")
    (tmp_path / "linkage-secret.key").chmod(0o600)
    return tmp_path / "agency.toml"


def edit(config: Path, old: str, new: str) -> None:
    text = config.read_text(encoding="utf-8")
    assert old in text, old
    config.write_text(text.replace(old, new, 1), encoding="utf-8")


def client_problems(config: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_client_config(config, {})
    assert caught.value.message == "agency.toml is invalid"
    return {p.location: p.reason for p in caught.value.problems}


def test_the_workflow_commands_parse_agency_toml_once(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    loads = tables.tomllib.loads

    def counting(text: str) -> dict[str, object]:
        calls.append(text)
        return loads(text)

    monkeypatch.setattr(tables.tomllib, "loads", counting)
    config = load_client_config(site, {})
    assert len(calls) == 1
    assert config.agency_id == "valley-mhc"
    assert config.batch_size == 500
    assert config.gateway.max_links == 7
    assert config.default_consent.grants_disclosure
    assert config.encoding.record_key == "client_id"


@pytest.mark.parametrize(
    ("old", "new", "where", "reason"),
    [
        ("[agency]\n", "[agency]\nnmae = 1\n", "agency.nmae", "unknown key; did you mean name?"),
        ("[secret]\n", "[secret]\nfiles = 1\n", "secret.files", "unknown key; did you mean file?"),
        ("[schema]\n", "[schema]\nfil = 1\n", "schema.fil", "unknown key; did you mean file?"),
        ("[output]\n", "[output]\nformats = 1\n", "output.formats", "unknown key; did you mean"),
        ("[matcher]\n", "[matcher]\nadress = 1\n", "matcher.adress", "unknown key; did you mean"),
        ("[state]\n", "[state]\nfiles = 1\n", "state.files", "unknown key; did you mean file?"),
        ("[consent]\n", "[consent]\npurpose = 1\n", "consent.purpose", "unknown key; did you"),
        ("[gateway]\n", "[gateway]\nmax_link = 1\n", "gateway.max_link", "unknown key; did you"),
        ("[matcher]\n", "[matchr]\n[matcher]\n", "matchr", "unknown table; did you mean matcher?"),
    ],
)
def test_an_unknown_key_in_any_table_is_named_with_the_closest_one(
    site: Path, old: str, new: str, where: str, reason: str
) -> None:
    edit(site, old, new)
    problems = client_problems(site)
    assert list(problems) == [where]
    assert problems[where].startswith(reason)


@pytest.mark.parametrize(
    ("old", "new", "where", "reason"),
    [
        ("key_epoch = 1", 'key_epoch = "1"', "agency.key_epoch", "must be an integer"),
        ('name = "Valley', "name = 3 #", "agency.name", "must be a string"),
        ('file = "linkage-secret.key"', "file = 1", "secret.file", "must be a path"),
        ('file = "default"', 'file = ""', "schema.file", "must be a built-in schema ("),
        ('delimiter = ","', "delimiter = 44", "input.delimiter", "must be a string"),
        ('format = "clk"', 'format = "csv"', "output.format", "must be clk or clkhash-json"),
        ("batch_size = 500", 'batch_size = "500"', "matcher.batch_size", "must be an integer"),
        ('key_file = "pointer.key"', "key_file = 1", "pointer.key_file", "must be a string"),
        ("disclose = true", 'disclose = "yes"', "consent.disclose", "must be true or false"),
        ("recipient_agencies = []", "recipient_agencies = [1]", "consent.recipient_agencies",
         "must be a list of agency IDs"),
        ('expires = "2099-06-30"', "expires = 2099-06-30", "consent.expires",
         "must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (a quoted string)"),
        ("max_links = 7", "max_links = 7.0", "gateway.max_links", "must be an integer"),
        ("max_links = 7", "max_links = 21", "gateway.max_links", "must be in 1..20"),
        ('token_file = "gateway.token"', "token_file = true", "gateway.token_file",
         "must be a string"),
        ('column = "gender"', 'columns = "gender"', "features.sex.columns",
         "must be a list of column names"),
        ('column = "gender"', "column = 1", "features.sex.column", "must be a column name"),
        ("keep_last = 10", 'keep_last = "10"', "features.phone.keep_last", "must be an integer"),
        ('name_part = "first"', 'name_part = "given"', "features.given_name.name_part",
         "must be first, middle or last"),
        ('column = "gender"', 'column = "gender"\nnormalise = "upper"', "features.sex.normalise",
         "must be name, text, date, sex, phone, digits, postcode or raw"),
        ('column = "gender"', 'column = "gender"\non_invalid = "skip"',
         "features.sex.on_invalid", "must be reject (skip the row) or missing"),
        ("[features.sex]", "[features.sex]\ncolumns = []", "features.sex.columns",
         "must be a list of column names"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_named_with_what_it_must_be(
    site: Path, old: str, new: str, where: str, reason: str
) -> None:
    edit(site, old, new)
    problems = client_problems(site)
    assert where in problems, problems
    assert problems[where].startswith(reason)


@pytest.mark.parametrize(
    ("old", "where", "reason"),
    [
        ('id = "valley-mhc"\n', "agency.id", "is required (the agency ID enrolled at the matcher)"),
        ('address = "localhost:50051"\n', "matcher.address", "is required (host:port of the"),
        ('ca_cert = "tls/ca.pem"\n', "matcher.ca_cert", "is required (the path of the"),
        ('expires = "2099-06-30"\n', "consent.expires", "is required when disclose = true"),
    ],
)
def test_a_missing_required_key_is_named_as_required(
    site: Path, old: str, where: str, reason: str
) -> None:
    edit(site, old, "")
    problems = client_problems(site)
    assert list(problems) == [where]
    assert problems[where].startswith(reason)


def test_a_left_out_matcher_table_names_each_required_key(site: Path) -> None:
    text = site.read_text(encoding="utf-8")
    start = text.index("[matcher]")
    site.write_text(text[:start] + text[text.index("[pointer]") :], encoding="utf-8")
    assert set(client_problems(site)) == {
        "matcher.address",
        "matcher.ca_cert",
        "matcher.cert",
        "matcher.key",
    }
    # the encoding commands do not need the matcher or the agency ID
    edit(site, 'id = "valley-mhc"\n', "")
    assert load_agency_config(site, {}).agency_name == "Valley Mental Health Centre"


def test_problems_of_both_halves_are_named_at_once(site: Path) -> None:
    edit(site, "key_epoch = 1", "key_epoch = -1")  # a value (AgencyConfig)
    edit(site, 'date_format = "MM/DD/YYYY"', 'date_format = "YY"')  # a value (FeatureSource)
    edit(site, "[input]\n", '[input]\nquote = "x"\n')  # an unknown key
    edit(site, 'purposes = ["crisis_response"]', 'purposes = ["gossip"]')  # a value
    edit(site, "max_links = 7", 'max_links = "7"')  # a type
    edit(site, 'listen = "127.0.0.1:8765"', 'listen = "nowhere"')  # a value (GatewaySettings)
    problems = client_problems(site)
    assert set(problems) == {
        "features.date_of_birth.date_format",
        "input.quote",
        "consent.purposes",
        "gateway.max_links",
        # found by GatewaySettings with the default standing in for max_links
        "gateway.listen",
    }
    # the agency's own values are checked once the features are valid
    edit(site, 'date_format = "YY"', 'date_format = "MM/DD/YYYY"')
    edit(site, 'purposes = ["gossip"]', 'purposes = ["crisis_response"]')
    edit(site, 'max_links = "7"', "max_links = 7")
    assert set(client_problems(site)) == {"input.quote", "agency.key_epoch", "gateway.listen"}
    edit(site, '[input]\nquote = "x"\n', "[input]\n")
    edit(site, "key_epoch = -1", "key_epoch = 1")
    assert client_problems(site) == {"gateway.listen": "must be host:port"}


def test_an_unknown_feature_key_lists_the_keys_a_feature_table_takes(site: Path) -> None:
    edit(site, 'column = "gender"', 'column = "gender"\ncolum = "x"')
    (reason,) = client_problems(site).values()
    assert reason == (
        "unknown key; did you mean column? (a feature table takes " + ", ".join(FEATURE_KEYS) + ")"
    )


def test_the_workflow_model_only_adds_requirements() -> None:
    assert list(ClientToml.model_fields) == list(AgencyToml.model_fields)
    assert AgencyToml.model_fields["matcher"].is_required() is False
    assert ClientToml.model_fields["agency"].annotation is not None
