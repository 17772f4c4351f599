"""Root pytest configuration: the doctests of ``rbfopt/`` run with the default suite.

``rbfopt/__main__.py`` runs the CLI and exits on import, so doctest collection skips it.
"""

collect_ignore = ["rbfopt/__main__.py"]
