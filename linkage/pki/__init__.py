"""The operator's PKI: CA, certificates naming principals, CRL-based revocation.

Principals are named by one SAN URI per certificate (see
:mod:`linkage.identity` and docs/security.md)::

    spiffe://<trust-domain>/agency/<agency-id>/{agency|responder}/<name>
    spiffe://<trust-domain>/{operator|server}/<name>

Typical server wiring::

    checker = RevocationChecker(pki_dir / "crl.pem", ca_cert, check_interval_s=1.0)
    authenticator = PeerAuthenticator(ca_cert, trust_domain, revocation=checker)
    principal = authenticator.authenticate(context.auth_context()["x509_pem_cert"][0])
"""

from linkage.identity import (
    AGENCY_SCOPED_ROLES,
    Principal,
    Role,
    check_validity,
    load_certificate,
    parse_spiffe_id,
    principal_from_certificate,
    spiffe_id,
    validate_identifier,
    validate_trust_domain,
)
from linkage.pki._authenticate import PeerAuthenticator
from linkage.pki._demo import DemoCredentials, DemoPki, create_demo_pki
from linkage.pki._directory import (
    CredentialPaths,
    IssuedCertificateRecord,
    PkiDirectory,
    format_serial,
    parse_serial,
    write_credentials,
)
from linkage.pki._issue import (
    CertificateAuthority,
    KeyAlgorithm,
    PrivateKey,
    PublicKey,
    RevokedCertificate,
    build_crl,
    create_ca,
    generate_private_key,
    issue_certificate,
    private_key_to_pem,
)
from linkage.pki._revocation import RevocationChecker, load_verified_crl

__all__ = [
    "AGENCY_SCOPED_ROLES",
    "CertificateAuthority",
    "CredentialPaths",
    "DemoCredentials",
    "DemoPki",
    "IssuedCertificateRecord",
    "KeyAlgorithm",
    "PeerAuthenticator",
    "PkiDirectory",
    "Principal",
    "PrivateKey",
    "PublicKey",
    "RevocationChecker",
    "RevokedCertificate",
    "Role",
    "build_crl",
    "check_validity",
    "create_ca",
    "create_demo_pki",
    "format_serial",
    "generate_private_key",
    "issue_certificate",
    "load_certificate",
    "load_verified_crl",
    "parse_serial",
    "parse_spiffe_id",
    "principal_from_certificate",
    "private_key_to_pem",
    "spiffe_id",
    "validate_identifier",
    "validate_trust_domain",
    "write_credentials",
]
