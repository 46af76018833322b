"""The agency-side client: encode, upload, consent, deref and the responder gateway."""
