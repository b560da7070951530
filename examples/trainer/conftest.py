"""Puts examples/trainer on sys.path, so that the tests import ``trainer``."""
