"""Where the top-level `templates/` and `policies/` folders are at run time.

In a wheel they are packaged under `auditor/_data/`; in a source checkout (editable install)
they sit beside the package.
"""

from pathlib import Path


def data_path(name: str) -> Path:
    packaged = Path(__file__).parent / "_data" / name
    return packaged if packaged.exists() else Path(__file__).parent.parent / name
