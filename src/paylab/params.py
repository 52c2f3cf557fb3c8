"""Read params.yaml, the one place for knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from paylab.paths import project_root


def load_params(path: Path | str | None = None) -> dict[str, Any]:
    """All of params.yaml as a dict."""
    path = Path(path) if path else project_root() / "params.yaml"
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def stage_params(stage: str, path: Path | str | None = None) -> dict[str, Any]:
    """The section of one stage, with the shared top-level `seed` added when the section has none."""
    params = load_params(path)
    if stage not in params:
        raise KeyError(f"params.yaml has no section '{stage}' (sections: {sorted(params)})")
    section = dict(params[stage] or {})
    section.setdefault("seed", params.get("seed", 0))
    return section
