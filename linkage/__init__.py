"""Privacy-preserving record linkage for co-responder programs."""
