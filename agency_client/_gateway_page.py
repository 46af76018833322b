"""The gateway's mobile-friendly page: a short form and a card per agency that disclosed.

The page is the packaged Jinja2 template ``agency_client/templates/gateway.html`` with
its style and script in ``agency_client/static/`` (served under ``/static/``), so a
designer can change them without touching Python. Autoescaping is on for the whole
template: every value is escaped. The page works without JavaScript on any field
device, and no identifier ever travels in a URL (the form posts). "No information
available" is one fixed text, the same whether nothing matched or nothing may be shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import jinja2

from linkage.events import Disposition

__all__ = ["CONTACT_LOGGED", "NO_INFORMATION", "STATIC_PREFIX", "ContactForm", "render_page"]

NO_INFORMATION: Final = "No information available"
CONTACT_LOGGED: Final = "Contact logged. It is sent with the next upload of this agency."
#: Where the gateway serves ``agency_client/static/``.
STATIC_PREFIX: Final = "/static"

# (name, label, input type, required), in the order of the form
_FIELDS: Final = (
    ("given_name", "Given name", "text", True),
    ("surname", "Family name", "text", True),
    ("date_of_birth", "Date of birth", "date", False),
    ("sex", "Sex", "select", False),
    ("middle_name", "Middle name", "text", False),
    ("phone", "Phone", "tel", False),
    ("street_address", "Street address", "text", False),
    ("suburb", "Suburb or city", "text", False),
    ("postcode", "Postcode", "text", False),
    ("state", "State", "text", False),
)
_SEX_OPTIONS: Final = (("", "Not known"), ("f", "Female"), ("m", "Male"), ("x", "Another"))
#: The contact form's disposition codes and their labels, in the order shown.
_DISPOSITIONS: Final = (
    (Disposition.RESOLVED_ON_SCENE, "Resolved on scene"),
    (Disposition.REFERRED, "Referred to services"),
    (Disposition.TRANSPORTED_ER, "Transported to the ER"),
    (Disposition.EMERGENCY_HOLD, "Emergency hold"),
    (Disposition.ARRESTED, "Arrested"),
    (Disposition.DECLINED_SERVICES, "Declined services"),
    (Disposition.OTHER, "Other"),
)

_ENVIRONMENT: Final = jinja2.Environment(
    loader=jinja2.PackageLoader("agency_client", "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    label: str
    kind: str
    required: bool
    value: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Card:
    display_name: str
    instructions: str
    phone_number: str
    tel: str
    agency: str
    pointer_token: str


@dataclass(frozen=True, slots=True)
class ContactForm:
    """The "log this contact" form: the lookup's contact token and what was entered."""

    token: str
    contact_date: str = ""
    contact_time: str = ""
    disposition: str = ""


def _card(record: Mapping[str, object]) -> _Card:
    phone = str(record.get("phone_number") or "")
    return _Card(
        display_name=str(record.get("display_name") or ""),
        instructions=str(record.get("instructions") or ""),
        phone_number=phone,
        tel="".join(ch for ch in phone if ch.isdigit() or ch == "+"),
        agency=str(record.get("agency") or ""),
        pointer_token=str(record.get("pointer_token") or ""),
    )


def render_page(
    *,
    agency_name: str,
    fields: Sequence[str],
    auth_required: bool,
    values: Mapping[str, str] | None = None,
    results: Sequence[Mapping[str, object]] | None = None,
    error: str | None = None,
    contact: ContactForm | None = None,
    notice: str | None = None,
) -> bytes:
    """The whole page: the form, then results (``None``: no lookup yet) or an error.

    ``fields`` are the schema's features; the form shows the ones it knows a label for.
    ``contact``: the "log this contact" form (after a lookup, or to correct one);
    ``notice``: a confirmation (the contact was logged).
    """
    given = values or {}
    form_fields = [
        _Field(
            name=name,
            label=label,
            kind=kind,
            required=required,
            value=given.get(name, ""),
            options=_SEX_OPTIONS if kind == "select" else (),
        )
        for name, label, kind, required in _FIELDS
        if name in fields
    ]
    page = _ENVIRONMENT.get_template("gateway.html").render(
        agency_name=agency_name,
        fields=form_fields,
        auth_required=auth_required,
        results=None if results is None else [_card(r) for r in results],
        error=error,
        no_information=NO_INFORMATION,
        static_prefix=STATIC_PREFIX,
        contact=contact,
        dispositions=[(d.value, label) for d, label in _DISPOSITIONS],
        notice=notice,
    )
    return page.encode("utf-8")
