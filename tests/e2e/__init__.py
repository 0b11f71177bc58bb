"""End-to-end tests: the real app in headless Chromium (a package, so its conftest does not shadow
tests/conftest.py)."""
