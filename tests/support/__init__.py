"""What the test modules of both layers share: helpers, templates, made-up data.

Imported by name (``from support.flows import FLOW``): ``tests/`` is on ``sys.path``
(pytest's rootdir-relative import of ``tests/unit`` and ``tests/e2e``, whose packages
have no parent package). Fixtures live in ``conftest.py`` files, never here.
"""
