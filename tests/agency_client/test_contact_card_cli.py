"""The commands of a contact-card change (issue 22): linkage-admin agency update proposes,
agency-client contact-card show prints the proposal and its digest, confirm puts it in
force (reject discards it), over a real matcher with mutual TLS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkage.admin.cli import main as admin
from tests.agency_client.test_cli_workflow import Matcher, _folder, matcher, run

__all__ = ["matcher"]  # the module's real matcher

pytestmark = pytest.mark.integration


def _admin(matcher: Matcher, *args: str) -> tuple[int, str]:
    creds = matcher.pki.operator.paths
    assert creds.private_key is not None
    env = {
        "LINKAGE_MATCHER": matcher.address,
        "LINKAGE_CA_CERT": str(creds.ca_certificate),
        "LINKAGE_OPERATOR_CERT": str(creds.certificate),
        "LINKAGE_OPERATOR_KEY": str(creds.private_key),
    }
    result = CliRunner().invoke(admin, list(args), env=env)
    return result.exit_code, result.output


def _propose(matcher: Matcher, phone: str) -> dict[str, object]:
    code, out = _admin(
        matcher,
        "agency",
        "update",
        "mhc-b",
        "--display-name",
        "mhc-b",
        "--contact-name",
        "mhc-b desk",
        "--contact-phone",
        phone,
    )
    assert code == 0, out
    assert "card is unchanged until the agency confirms it" in out
    shown: dict[str, object] = json.loads(out[out.index("{") : out.rindex("}") + 1])
    return shown


def test_a_proposed_card_is_shown_then_confirmed_or_rejected(
    tmp_path: Path, matcher: Matcher
) -> None:
    config = str(_folder(tmp_path, matcher, "mhc-b").config)
    proposed = _propose(matcher, "555 0199")
    assert proposed["contact_card"]["phone_number"] == "555 0100"  # type: ignore[index]
    digest = proposed["proposal"]["digest"]  # type: ignore[index]

    code, out, _ = run("contact-card", "show", "--config", config)
    assert code == 0
    assert "phone:            555 0100" in out
    assert "phone:            555 0199" in out
    assert f"agency-client contact-card confirm {digest}" in out

    code, _, err = run("contact-card", "confirm", "--config", config, "ab" * 31)
    assert code != 0
    assert "64 hex characters" in err
    code, out, _ = run("contact-card", "confirm", "--config", config, str(digest))
    assert code == 0, out
    assert "confirmed; responders see this card" in out
    code, out, _ = run("contact-card", "show", "--config", config, "--json")
    shown = json.loads(out)
    assert (shown["contact_card"]["phone_number"], shown["proposal"]) == ("555 0199", None)

    rejected = _propose(matcher, "555 0666")["proposal"]["digest"]  # type: ignore[index]
    code, out, _ = run("contact-card", "reject", "--config", config, str(rejected))
    assert code == 0, out
    assert "discarded" in out
    assert (
        json.loads(run("contact-card", "show", "--config", config, "--json")[1])["contact_card"][
            "phone_number"
        ]
        == "555 0199"
    )
