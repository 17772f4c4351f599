"""The studies shipped with rbfopt, one module each, found by name by ``rbfopt list`` and
``rbfopt run NAME`` (``rbfopt.app.catalog``).

In the source tree this is the top-level ``problems/`` folder; ``setup.py`` installs it
as the package ``rbfopt_problems``. Nothing in ``rbfopt`` imports it.
"""
