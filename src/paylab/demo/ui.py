"""Streamlit helpers shared by the demo pages: the checkout the app reads, cached artefact readers whose cache key
is the file's modification time (a rebuilt artefact is read again), and the "run `make repro` first" guard."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from paylab.demo import artefacts

APP_DIR = Path(__file__).resolve().parents[3] / "app"


def root() -> Path:
    """PAYLAB_ROOT when set, else the checkout this package lives in."""
    if os.environ.get("PAYLAB_ROOT"):
        return Path(os.environ["PAYLAB_ROOT"]).resolve()
    return Path(__file__).resolve().parents[3]


def _mtime(path: Path) -> float | None:
    return path.stat().st_mtime if path.exists() else None


@st.cache_data(show_spinner=False)
def _json(path: str, mtime: float | None) -> dict | None:
    return artefacts.read_json(Path(path))


def metrics(module: str) -> dict | None:
    """reports/metrics/<module>.json (cached until the file changes), or None."""
    path = root() / "reports" / "metrics" / f"{module}.json"
    return _json(str(path), _mtime(path))


@st.cache_data(show_spinner=False)
def _csv(path: str, mtime: float | None) -> pd.DataFrame | None:
    return pd.read_csv(path) if mtime is not None else None


def csv(relative: str) -> pd.DataFrame | None:
    """A CSV artefact under the root (cached until it changes), or None."""
    path = root() / relative
    return _csv(str(path), _mtime(path))


def require(module: str, stage: str | None = None) -> dict:
    """The module's metrics, or a warning to run `make repro` first and the end of the page."""
    data = metrics(module)
    if data is None:
        st.warning(f"No {module} report yet: run `make repro` first (the `{stage or module}` stage writes "
                   f"reports/metrics/{module}.json).")
        st.stop()
    return data


def roles_table(data: dict, metric_names: list[str] | None = None) -> pd.DataFrame:
    """model / baseline / reference / ceiling side by side, each cell `value [low, high]` where intervals exist."""
    from paylab.report import metric_roles

    roles = metric_roles(data)
    names = metric_names or sorted({k for r in roles for k in data[r]
                                    if not k.endswith(("_ci_low", "_ci_high")) and isinstance(data[r][k], int | float)})
    return pd.DataFrame({r: {n: artefacts._ci(data[r], n) for n in names} for r in roles})


def images(paths: list[Path], columns: int = 3) -> None:
    for column, fig in zip(st.columns(columns) * (len(paths) // columns + 1), paths, strict=False):
        column.image(str(fig), caption=fig.stem)
