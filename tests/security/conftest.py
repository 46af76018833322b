"""Fixtures for the security tests (the PKI bundle lives in pki_fixtures.py, importable)."""

from __future__ import annotations

from pki_fixtures import pki_bundle

__all__ = ["pki_bundle"]
