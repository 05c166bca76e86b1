"""Package layout for setuptools; the metadata lives in pyproject.toml.

Every ``spatialme`` subpackage is found when the package is built (a new one needs no
edit here), and the trained weights and the demo textures, kept in ``assets/`` where the
Hugging Face Space and a checkout read them, are shipped inside the package as
``spatialme/_weights`` and ``spatialme/_textures``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["spatialme", "spatialme.*"]), "spatialme._weights", "spatialme._textures"],
    package_dir={"spatialme._weights": "assets/weights", "spatialme._textures": "assets/textures"},
)
