"""Linkage schema v3, normalisation, CLK encoding and hardening."""
