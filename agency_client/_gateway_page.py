"""The gateway's mobile-friendly page: a short form and a card per agency that disclosed.

Server-rendered HTML with no JavaScript, so it works on any field device and no
identifier ever travels in a URL (the form posts). Every value is escaped.
"No information available" is one fixed text, the same whether nothing matched
or nothing may be shown.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["NO_INFORMATION", "render_page"]

NO_INFORMATION: Final = "No information available"

_CSS: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f8;
color:#1b1f23}
main{max-width:34rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;margin:.5rem 0 1rem}
form{background:#fff;border-radius:.5rem;padding:1rem;box-shadow:0 1px 3px #0002}
label{display:block;font-weight:600;margin:.6rem 0 .2rem}
input,select{width:100%;box-sizing:border-box;font-size:1rem;padding:.55rem;
border:1px solid #9aa4ae;border-radius:.35rem}
.row{display:flex;gap:.5rem}.row>div{flex:1}
button{margin-top:1rem;width:100%;font-size:1.1rem;padding:.75rem;border:0;border-radius:.4rem;
background:#0b5cad;color:#fff}
.card{background:#fff;border-left:.4rem solid #0b7a3b;border-radius:.5rem;padding:.8rem 1rem;
margin:1rem 0;box-shadow:0 1px 3px #0002}
.card h2{font-size:1.1rem;margin:0 0 .3rem}
.card a{font-size:1.2rem;font-weight:700}
.none{background:#fff;border-left:.4rem solid #6b7580;border-radius:.5rem;padding:.8rem 1rem;
margin:1rem 0}
.error{background:#fff3f3;border-left:.4rem solid #b3261e;border-radius:.5rem;padding:.8rem 1rem;
margin:1rem 0}
.ref{font-size:.75rem;color:#5b6670;word-break:break-all}
small{color:#5b6670}
"""

_FIELDS: Final = (
    ("given_name", "Given name", "text", "given-name", True),
    ("surname", "Family name", "text", "family-name", True),
    ("date_of_birth", "Date of birth", "date", "bday", True),
)
_OPTIONAL: Final = (
    ("middle_name", "Middle name", "text", "additional-name"),
    ("phone", "Phone", "tel", "tel"),
    ("street_address", "Street address", "text", "street-address"),
    ("suburb", "Suburb or city", "text", "address-level2"),
    ("postcode", "Postcode", "text", "postal-code"),
    ("state", "State", "text", "address-level1"),
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _form(values: Mapping[str, str], auth_required: bool, fields: Sequence[str]) -> str:
    parts = [
        '<form method="post" action="/lookup" autocomplete="off" id="lookup-form">'
        "<small>Name and date of birth are required; each further detail (phone, "
        "address) makes a match more likely.</small>"
    ]
    for name, label, kind, _hint, required in _FIELDS:
        if name not in fields:
            continue
        parts.append(
            f'<label for="{name}">{label}</label><input id="{name}" name="{name}" '
            f'type="{kind}" value="{_e(values.get(name, ""))}"{" required" if required else ""}>'
        )
    if "sex" in fields:
        current = values.get("sex", "")
        options = "".join(
            f'<option value="{v}"{" selected" if v == current else ""}>{t}</option>'
            for v, t in (("", "Not known"), ("f", "Female"), ("m", "Male"), ("x", "Another"))
        )
        parts.append(f'<label for="sex">Sex</label><select id="sex" name="sex">{options}</select>')
    for name, label, kind, _hint in _OPTIONAL:
        if name not in fields:
            continue
        parts.append(
            f'<label for="{name}">{label}</label><input id="{name}" name="{name}" '
            f'type="{kind}" value="{_e(values.get(name, ""))}">'
        )
    if auth_required:
        parts.append(
            '<label for="access_code">Access code</label>'
            '<input id="access_code" name="access_code" type="password" required>'
        )
    parts.append('<button type="submit" id="lookup-button">Look up</button></form>')
    return "".join(parts)


def _cards(results: Sequence[Mapping[str, object]]) -> str:
    if not results:
        return (
            f'<section class="none" id="no-information"><h2>{NO_INFORMATION}</h2>'
            "<small>This does not mean the person is unknown to every agency.</small></section>"
        )
    cards = []
    for record in results:
        phone = str(record.get("phone_number") or "")
        tel = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
        call = f'<a href="tel:{_e(tel)}">{_e(phone)}</a>' if phone else ""
        instructions = str(record.get("instructions") or "")
        cards.append(
            f'<section class="card result-card"><h2>Known to: {_e(record.get("display_name", ""))}'
            f"</h2><p>Call: {_e(instructions)}{' — ' if instructions and call else ''}{call}</p>"
            f'<p class="ref">Reference for {_e(record.get("agency", ""))}: '
            f"{_e(record.get('pointer_token', ''))}</p></section>"
        )
    return "".join(cards)


def render_page(
    *,
    agency_name: str,
    fields: Sequence[str],
    auth_required: bool,
    values: Mapping[str, str] | None = None,
    results: Sequence[Mapping[str, object]] | None = None,
    error: str | None = None,
) -> bytes:
    """The whole page: form, then results (``None``: no lookup yet) or an error."""
    body = [f"<main><h1>Is this person known? <small>({_e(agency_name)} gateway)</small></h1>"]
    if error is not None:
        body.append(f'<section class="error" id="error">{_e(error)}</section>')
    elif results is not None:
        body.append(f'<div id="results">{_cards(results)}</div>')
    body.append(_form(values or {}, auth_required, fields))
    body.append("</main>")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Co-responder lookup</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    return page.encode("utf-8")
