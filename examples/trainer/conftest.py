"""Puts ``examples/trainer`` on sys.path so the tests import ``trainer`` (pytest's rootdir conftest)."""
