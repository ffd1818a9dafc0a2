"""Print the lowest versions pyproject.toml allows (each ``name>=X`` as ``name==X``) for the
run's dependencies and its test and examples extras, as a pip requirements file."""

import re
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
extras = project["optional-dependencies"]
for requirement in project["dependencies"] + extras["test"] + extras["examples"]:
    print(re.sub(r">=", "==", requirement))
