"""Test-wide settings.

Hypothesis runs derandomized by default, so CI sees the same examples every run; explore new
ones locally with ``pytest --hypothesis-profile=explore``.
"""
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("ci")
