"""Where things live: the project root and its data layers."""

from __future__ import annotations

import os
from pathlib import Path

_EXP_TMP = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep


def project_root(start: Path | str | None = None) -> Path:
    """The PayLab checkout that contains `start` (default: the working directory).

    `PAYLAB_ROOT` wins when set. A `dvc exp run --temp` workspace lives under `<repo>/.dvc/tmp/exps/`;
    it resolves to the enclosing repo so that every experiment shares one MLflow store.
    """
    if os.environ.get("PAYLAB_ROOT"):
        return Path(os.environ["PAYLAB_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    text = str(here) + os.sep
    if _EXP_TMP in text:
        return Path(text.split(_EXP_TMP)[0])
    for candidate in (here, *here.parents):
        if (candidate / "params.yaml").exists() and (candidate / "src" / "paylab").is_dir():
            return candidate
    raise FileNotFoundError(f"no PayLab checkout (params.yaml + src/paylab) at or above {here}")


def raw_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "raw"


def interim_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "interim"


def processed_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "processed"


def reports_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "reports"
