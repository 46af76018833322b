"""Scenario generators for the quality benchmark (see README.md in this folder)."""
