"""``agency-client init DIR``: create an agency's working directory.

Writes ``DIR/agency.toml`` (agency ID, matcher address, certificate paths, where
the linkage secret comes from, the default consent, the schema when ``--schema``
names one, and the column mapping), a
fresh pointer key ``DIR/pointer.key`` (mode 0600), the responder gateway's bearer
token ``DIR/gateway.token`` (mode 0600) and ``DIR/state/`` (0700).
The secret is checked but never copied: the config names its file or variable.
"""

from __future__ import annotations

import json
import os
import tomllib
from datetime import date
from pathlib import Path

import click

from agency_client._client_config import load_client_config
from agency_client._encoding import BUILTIN_SCHEMA_NAMES
from agency_client._gateway import write_gateway_token
from agency_client.pointer import generate_pointer_key, write_pointer_key
from linkage.consent import Purpose
from linkage.errors import AlreadyExistsError, ConfigError, InvalidInputError, Problem
from linkage.identity import AGENCY_ID_PATTERN
from linkage.limited_read import MAX_CONFIG_BYTES, read_limited

__all__ = ["init_command"]


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


def _path_text(path: Path, base: Path) -> str:
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(base.resolve()))
    except ValueError:
        return str(resolved)


def _mapping_text(mapping: Path, *, schema_given: bool = False) -> str:
    try:
        text = read_limited(mapping, MAX_CONFIG_BYTES, "the mapping").decode("utf-8")
        document = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read the mapping {mapping.name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{mapping.name} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{mapping.name} is not valid TOML: {exc}") from None
    extra = [k for k in document if k not in ("input", "features", "output", "schema")]
    if extra:
        raise ConfigError(
            f"{mapping.name} may hold only [input], [output], [schema] and [features.*] tables",
            problems=[Problem(k, "not allowed in a mapping file") for k in extra],
        )
    if schema_given and "schema" in document:
        raise ConfigError(
            f"{mapping.name} has a [schema] table and --schema names one too; keep one",
            problems=[Problem("schema", "given twice")],
        )
    return text


def _schema_text(schema: str, base: Path) -> str:
    """``--schema``: a built-in name as it is, a schema file as a path from ``base``."""
    if schema in BUILTIN_SCHEMA_NAMES:
        return schema
    path = Path(schema)
    if not path.is_file():
        raise ConfigError(
            f"--schema: no file at {path}; give a schema file or one of "
            + ", ".join(BUILTIN_SCHEMA_NAMES)
        )
    return _path_text(path, base)


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--agency-id", required=True, help="The agency ID enrolled at the matcher.")
@click.option("--name", "display_name", default=None, help="Human-readable agency name.")
@click.option("--matcher", "matcher_address", required=True, help="The matcher's host:port.")
@click.option(
    "--ca-cert",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The operator's CA certificate.",
)
@click.option(
    "--cert",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="This agency's IT certificate (role agency).",
)
@click.option(
    "--key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Its private key (mode 0600).",
)
@click.option(
    "--gateway-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The responder gateway's certificate (role responder), if this site runs one.",
)
@click.option(
    "--gateway-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The gateway certificate's private key (mode 0600).",
)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file holding the shared linkage secret (never copied).",
)
@click.option("--secret-env", default=None, help="Or: the NAME of a variable holding it.")
@click.option(
    "--mapping",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML with the export's [input] and [features.*] tables.",
)
@click.option(
    "--schema",
    default=None,
    help="The linkage schema: default (hardened), plain, default-segmented (with per-field "
    "segments) or a schema JSON file; the same for every agency of the programme. "
    "Default: the mapping's [schema] table, else default.",
)
@click.option("--key-epoch", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 10000), default=1000, show_default=True)
@click.option(
    "--disclose/--no-disclose",
    default=False,
    show_default=True,
    help="Default consent: may responders see this agency's pointers?",
)
@click.option(
    "--purpose",
    "purposes",
    multiple=True,
    type=click.Choice([p.value for p in Purpose]),
    help="Default consent purposes.",
)
@click.option(
    "--recipient-agency",
    "recipient_agencies",
    multiple=True,
    help="Default consent: only these agencies' responders (repeatable).",
)
@click.option("--consent-expires", default=None, help="Default consent expiry, YYYY-MM-DD.")
@click.option("--gateway-listen", default="127.0.0.1:8765", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing agency.toml (never a key).")
def init_command(
    directory: Path,
    agency_id: str,
    display_name: str | None,
    matcher_address: str,
    ca_cert: Path,
    cert: Path,
    key: Path,
    gateway_cert: Path | None,
    gateway_key: Path | None,
    secret_file: Path | None,
    secret_env: str | None,
    mapping: Path,
    schema: str | None,
    key_epoch: int,
    batch_size: int,
    disclose: bool,
    purposes: tuple[str, ...],
    recipient_agencies: tuple[str, ...],
    consent_expires: str | None,
    gateway_listen: str,
    force: bool,
) -> None:
    """Create an agency working directory: config, pointer key (0600) and state folder."""
    if AGENCY_ID_PATTERN.fullmatch(agency_id) is None:
        # the matcher enrols agencies by such IDs (linkage-admin agency create)
        raise InvalidInputError(
            "--agency-id: must be 2-63 characters of a-z, 0-9 and '-', starting with a letter"
        )
    if (secret_file is None) == (secret_env is None):
        raise ConfigError("name exactly one of --secret-file or --secret-env")
    if (gateway_cert is None) != (gateway_key is None):
        raise ConfigError("give --gateway-cert and --gateway-key together")
    if disclose and consent_expires is None:
        raise ConfigError(
            "a disclosing default consent needs --consent-expires YYYY-MM-DD "
            "(42 CFR Part 2 requires an expiry)"
        )
    if consent_expires is not None:
        try:
            date.fromisoformat(consent_expires)
        except ValueError:
            raise ConfigError("--consent-expires must be YYYY-MM-DD") from None
    for path, what in ((ca_cert, "--ca-cert"), (cert, "--cert"), (key, "--key")):
        if not path.is_file():
            raise ConfigError(f"{what}: no file at {path}; check the path")
    mapping_text = _mapping_text(mapping, schema_given=schema is not None)
    schema_lines = (
        [] if schema is None else ["", "[schema]", f"file = {_q(_schema_text(schema, directory))}"]
    )
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "agency.toml"
    if config_path.exists() and not force:
        raise AlreadyExistsError(
            f"{config_path} already exists; pass --force to rewrite it (keys are never replaced)"
        )
    key_path = directory / "pointer.key"
    base = directory
    lines = [
        "# Written by agency-client init. Relative paths are resolved against this folder.",
        "[agency]",
        f"id = {_q(agency_id)}",
        f"name = {_q(display_name or agency_id)}",
        f"key_epoch = {key_epoch}",
        "",
        "[secret]",
        f"file = {_q(_path_text(secret_file, base))}"
        if secret_file is not None
        else f"env = {_q(str(secret_env))}",
        *schema_lines,
        "",
        "[matcher]",
        f"address = {_q(matcher_address)}",
        f"ca_cert = {_q(_path_text(ca_cert, base))}",
        f"cert = {_q(_path_text(cert, base))}",
        f"key = {_q(_path_text(key, base))}",
        f"batch_size = {batch_size}",
        "",
        "[pointer]",
        'key_file = "pointer.key"',
        "",
        "[state]",
        'file = "state/upload-state.sqlite"',
        "",
        "[consent]",
        f"disclose = {'true' if disclose else 'false'}",
        "allow_linkage = true",
    ]
    if disclose:
        lines += [
            'recipient_roles = ["responder"]',
            f"recipient_agencies = [{', '.join(_q(a) for a in recipient_agencies)}]",
            f"purposes = [{', '.join(_q(p) for p in (purposes or ('crisis_response',)))}]",
            f"expires = {_q(str(consent_expires))}",
        ]
    lines += [
        "",
        "[gateway]",
        f"listen = {_q(gateway_listen)}",
        'purpose = "crisis_response"',
        'token_file = "gateway.token"',
    ]
    if gateway_cert is not None and gateway_key is not None:
        lines += [
            f"cert = {_q(_path_text(gateway_cert, base))}",
            f"key = {_q(_path_text(gateway_key, base))}",
        ]
    text = (
        "\n".join(lines) + "\n\n# ---- column mapping (from " + mapping.name + ")\n" + mapping_text
    )
    temp = config_path.with_suffix(".toml.tmp")
    temp.write_text(text, encoding="utf-8")
    try:
        load_client_config(temp, os.environ)  # the secret is loaded and checked here
    except ConfigError as exc:
        temp.unlink(missing_ok=True)
        # name the options given, not the temporary file the check read
        raise ConfigError(
            "the agency.toml these options make is invalid",
            problems=exc.problems or [Problem("agency.toml", exc.message)],
        ) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    temp.replace(config_path)
    created_key = False
    if not key_path.exists():
        write_pointer_key(key_path, generate_pointer_key())
        created_key = True
    created_token = write_gateway_token(directory / "gateway.token")
    (directory / "state").mkdir(mode=0o700, exist_ok=True)
    click.echo(f"initialised {directory}: agency.toml for agency {agency_id}")
    click.echo(
        "  pointer.key: "
        + ("new key, mode 0600" if created_key else "kept the existing key")
        + "; it never leaves this site: back it up, or pointers cannot be opened"
    )
    click.echo(
        "  gateway.token: "
        + ("new bearer token, mode 0600" if created_token else "kept the existing token")
        + "; the responder page asks for it as the access code, CAD systems send it as "
        "Authorization: Bearer"
    )
    click.echo(f"  next: agency-client upload --config {config_path} EXPORT.csv")
