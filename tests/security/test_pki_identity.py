"""Principals, the SAN URI scheme and principal_from_certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from linkage.errors import AuthenticationError, InvalidInputError
from linkage.pki import (
    CertificateAuthority,
    Principal,
    Role,
    check_validity,
    create_ca,
    generate_private_key,
    issue_certificate,
    parse_spiffe_id,
    principal_from_certificate,
    spiffe_id,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
trust_domains = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,40}", fullmatch=True)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_ca("example.test", now=NOW - timedelta(days=1))


def _issue(ca: CertificateAuthority, role: Role, agency: str | None, name: str) -> x509.Certificate:
    key = generate_private_key()
    extra = {"dns_names": ["localhost"]} if role is Role.SERVER else {}
    return issue_certificate(
        ca,
        role=role,
        agency_id=agency,
        name=name,
        public_key=key.public_key(),
        not_before=NOW - timedelta(hours=1),
        not_after=NOW + timedelta(days=1),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("role", "agency", "uri"),
    [
        (Role.AGENCY, "valley-mhc", "spiffe://example.test/agency/valley-mhc/agency/it"),
        (Role.RESPONDER, "valley-mhc", "spiffe://example.test/agency/valley-mhc/responder/it"),
        (Role.OPERATOR, None, "spiffe://example.test/operator/it"),
        (Role.SERVER, None, "spiffe://example.test/server/it"),
    ],
)
def test_uri_scheme_per_role(role: Role, agency: str | None, uri: str) -> None:
    assert spiffe_id("example.test", role, agency, "it") == uri
    assert parse_spiffe_id(uri) == ("example.test", role, agency, "it")


@given(
    domain=trust_domains,
    role=st.sampled_from(list(Role)),
    agency=identifiers,
    name=identifiers,
)
def test_uri_round_trips(domain: str, role: Role, agency: str, name: str) -> None:
    agency_id = agency if role in (Role.AGENCY, Role.RESPONDER) else None
    uri = spiffe_id(domain, role, agency_id, name)
    assert parse_spiffe_id(uri) == (domain, role, agency_id, name)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://example.test/operator/x", "not a spiffe"),
        ("spiffe://Example.test/operator/x", "invalid trust domain"),
        ("spiffe://example.test:443/operator/x", "port"),
        ("spiffe://user@example.test/operator/x", "user"),
        ("spiffe://example.test/operator/x?q=1", "query"),
        ("spiffe://example.test/operator/x#f", "fragment"),
        ("spiffe://example.test/operator/", "invalid path segment"),
        ("spiffe://example.test/operator/..", "invalid path segment"),
        ("spiffe://example.test/operator/a b", "invalid path segment"),
        ("spiffe://example.test/admin/x", "unknown role"),
        ("spiffe://example.test/responder/x", "without an agency"),
        ("spiffe://example.test/agency/a/operator/x", "no agency scope"),
        ("spiffe://example.test/agency/a/responder", "does not follow"),
        ("spiffe://example.test/agency/a/responder/x/y", "does not follow"),
        ("spiffe://example.test", "does not follow"),
    ],
)
def test_malformed_uris_are_refused_with_a_reason(uri: str, reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason) as info:
        parse_spiffe_id(uri)
    assert uri not in str(info.value)


@pytest.mark.parametrize(
    ("role", "agency"),
    [(Role.AGENCY, None), (Role.RESPONDER, None), (Role.OPERATOR, "a"), (Role.SERVER, "a")],
)
def test_principal_requires_agency_exactly_for_agency_roles(role: Role, agency: str | None) -> None:
    with pytest.raises(InvalidInputError, match="agency_id"):
        Principal(role, agency, "name", 1)


@pytest.mark.parametrize("serial", [0, -1, 1 << 159, True, "1"])
def test_principal_rejects_bad_serials(serial: object) -> None:
    with pytest.raises(InvalidInputError, match="serial"):
        Principal(Role.OPERATOR, None, "op", serial)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", ".", "..", "-x", "a/b", "a b", "x" * 65, "é"])
def test_principal_rejects_bad_names_without_echoing_them(name: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Principal(Role.OPERATOR, None, name, 1)
    assert "principal.name" in str(info.value)


def test_actor_label_names_role_agency_name_and_serial() -> None:
    assert Principal(Role.RESPONDER, "v", "gw", 255).actor == "responder:v/gw#ff"
    assert Principal(Role.OPERATOR, None, "op", 16).actor == "operator:op#10"


@pytest.mark.parametrize(
    ("role", "agency"),
    [
        (Role.AGENCY, "valley-mhc"),
        (Role.RESPONDER, "metro-pd"),
        (Role.OPERATOR, None),
        (Role.SERVER, None),
    ],
)
def test_principal_from_issued_certificate(
    ca: CertificateAuthority, role: Role, agency: str | None
) -> None:
    cert = _issue(ca, role, agency, "someone")
    expected = Principal(role, agency, "someone", cert.serial_number)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert principal_from_certificate(pem) == expected
    assert principal_from_certificate(pem.decode()) == expected
    assert principal_from_certificate(der) == expected
    assert principal_from_certificate(cert, trust_domain="example.test") == expected


def test_other_trust_domain_is_refused(ca: CertificateAuthority) -> None:
    cert = _issue(ca, Role.OPERATOR, None, "op")
    with pytest.raises(AuthenticationError, match="another trust domain"):
        principal_from_certificate(cert, trust_domain="other.test")


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nxx\n"])
def test_unparseable_certificates(data: bytes) -> None:
    with pytest.raises(AuthenticationError):
        principal_from_certificate(data)


def _custom_cert(
    ca: CertificateAuthority,
    *,
    uris: list[str],
    ca_flag: bool = False,
    eku: list[x509.ObjectIdentifier] | None = None,
    san: bool = True,
) -> x509.Certificate:
    key = generate_private_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
    )
    if san:
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
        names.append(x509.DNSName("example.test"))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(ca.private_key, hashes.SHA256())


OPERATOR_URI = "spiffe://example.test/operator/op"
CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"uris": [OPERATOR_URI], "san": False, "eku": CLIENT}, "no subjectAltName"),
        ({"uris": [], "eku": CLIENT}, "no URI subjectAltName"),
        ({"uris": [OPERATOR_URI, OPERATOR_URI + "2"], "eku": CLIENT}, "more than one URI"),
        ({"uris": [OPERATOR_URI], "ca_flag": True, "eku": CLIENT}, "CA certificate"),
        ({"uris": [OPERATOR_URI]}, "no extendedKeyUsage"),
        ({"uris": [OPERATOR_URI], "eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "does not allow"),
        (
            {"uris": ["spiffe://example.test/server/s"], "eku": CLIENT},
            "does not allow the server role",
        ),
    ],
)
def test_malformed_certificates_are_refused_with_a_reason(
    ca: CertificateAuthority, kwargs: dict[str, object], reason: str
) -> None:
    cert = _custom_cert(ca, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError, match=reason):
        principal_from_certificate(cert)


def test_server_certificates_need_a_dns_or_ip_name(ca: CertificateAuthority) -> None:
    key = generate_private_key()
    with pytest.raises(InvalidInputError, match="DNS name or IP"):
        issue_certificate(
            ca,
            role=Role.SERVER,
            agency_id=None,
            name="s",
            public_key=key.public_key(),
            not_before=NOW,
            not_after=NOW + timedelta(days=1),
        )
    with pytest.raises(InvalidInputError, match="for servers"):
        issue_certificate(
            ca,
            role=Role.OPERATOR,
            agency_id=None,
            name="o",
            public_key=key.public_key(),
            not_before=NOW,
            not_after=NOW + timedelta(days=1),
            dns_names=["localhost"],
        )


def test_server_certificate_carries_dns_and_ip_sans(ca: CertificateAuthority) -> None:
    key = generate_private_key()
    cert = issue_certificate(
        ca,
        role=Role.SERVER,
        agency_id=None,
        name="matcher",
        public_key=key.public_key(),
        not_before=NOW,
        not_after=NOW + timedelta(days=1),
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
    )
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    cert.verify_directly_issued_by(ca.certificate)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"not_before": NOW, "not_after": NOW}, "later than not_before"),
        ({"not_before": NOW.replace(tzinfo=None), "not_after": NOW}, "timezone-aware"),
        ({"not_before": NOW, "not_after": NOW + timedelta(days=99999)}, "outlive the CA"),
    ],
)
def test_issue_rejects_bad_validity(
    ca: CertificateAuthority, kwargs: dict[str, Any], reason: str
) -> None:
    key = generate_private_key()
    with pytest.raises(InvalidInputError, match=reason):
        issue_certificate(
            ca, role=Role.OPERATOR, agency_id=None, name="o", public_key=key.public_key(), **kwargs
        )


def test_check_validity_boundaries(ca: CertificateAuthority) -> None:
    cert = _issue(ca, Role.OPERATOR, None, "op")
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    check_validity(cert, start)
    check_validity(cert, end)
    with pytest.raises(AuthenticationError, match="not valid yet"):
        check_validity(cert, start - timedelta(seconds=1))
    with pytest.raises(AuthenticationError, match="expired"):
        check_validity(cert, end + timedelta(seconds=1))
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        check_validity(cert, datetime(2026, 6, 1))


def test_ca_repr_hides_the_private_key(ca: CertificateAuthority) -> None:
    assert "private_key" not in repr(ca)


def test_ca_rejects_a_mismatched_key(ca: CertificateAuthority) -> None:
    with pytest.raises(InvalidInputError, match="does not belong"):
        CertificateAuthority(ca.certificate, generate_private_key(), "example.test")
