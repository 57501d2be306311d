"""Constructs, one logical unit each, with typed keyword-only props."""
