"""Package layout for setuptools; the metadata lives in pyproject.toml.

Every ``spatialme`` subpackage is found when the package is built (a new one needs no
edit here), and the trained weights, kept in ``assets/weights`` where the Hugging Face
Space and a checkout read them, are shipped inside the package as ``spatialme/_weights``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["spatialme", "spatialme.*"]), "spatialme._weights"],
    package_dir={"spatialme._weights": "assets/weights"},
)
