"""Helpers shared by the tests: import them as `tests.helpers.<module>` (the one way; no sys.path edits)."""
