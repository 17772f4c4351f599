"""Package layout for setuptools; all metadata lives in pyproject.toml.

The shipped studies stay in the top-level ``problems/`` folder of the source tree and
are installed as the package ``rbfopt_problems`` (found by ``rbfopt list`` / ``rbfopt
run NAME`` through ``rbfopt.app.catalog``). pyproject.toml cannot both discover
``rbfopt``'s subpackages and map a folder under another name, hence this file.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["rbfopt", "rbfopt.*"]) + ["rbfopt_problems"],
    package_dir={"rbfopt_problems": "problems"},
)
