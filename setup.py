"""Build step that ships the top-level schemas/ inside the package.

The JSON Schemas stay at the repository root, where editors find them through the
yaml-language-server line of each manifest, and are copied into `reconciler/schemas/` of every
build (wheel, sdist-built wheel, `pip install git+…`, pipx, pre-commit's environment), so git holds
one copy. An editable install reads them from the checkout instead (see reconciler/schema_check.py).
Everything else is configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SCHEMAS = Path(__file__).resolve().parent / "schemas"


class BuildPyWithSchemas(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "reconciler" / "schemas"
        self.mkpath(str(target))
        for schema in sorted(SCHEMAS.glob("*.schema.json")):
            self.copy_file(str(schema), str(target / schema.name))


setup(cmdclass={"build_py": BuildPyWithSchemas})
