"""reports/index.html: one page linking every executed notebook, metrics file and figure."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path

from paylab.stages import flat_metrics

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}figure{display:inline-block;margin:.4rem;width:320px;vertical-align:top}
figure img{width:100%;border:1px solid #ddd}figcaption{font-size:.8rem}h2{border-bottom:2px solid #2a6;}"""


# the blocks a module's metrics JSON compares side by side: the achievable `reference` (the same pipeline on much
# more data) and the `latent_ceiling` (the generator's hidden state: no model can see it; `oracle` in older files)
ROLES = ("model", "baseline", "reference", "latent_ceiling", "oracle")


def metric_roles(data: dict) -> list[str]:
    """The ROLES present in a metrics JSON, in order."""
    return [r for r in ROLES if isinstance(data.get(r), dict)]


def _metrics_table(data: dict) -> str:
    """Model vs baseline vs reference vs latent ceiling side by side when present, else one column of values."""
    roles = metric_roles(data)
    if roles:
        names = sorted({k for r in roles for k in data[r]})
        head = "".join(f"<th>{r}</th>" for r in roles)
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td>"
            + "".join(f"<td>{_fmt(data[r].get(n))}</td>" for r in roles) + "</tr>" for n in names)
        return f"<table><tr><th>metric</th>{head}</tr>{rows}</table>"
    flat = flat_metrics(data)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in flat.items())
    return f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else html.escape(str(value))


def build_index(reports: Path) -> Path:
    """Write reports/index.html from what is in reports/ now; returns its path."""
    parts = [f"<h1>PayLab reports</h1><p>Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>", "<h2>Notebooks</h2><ul>"]
    for nb in sorted((reports / "notebooks").glob("*.html")):
        parts.append(f'<li><a href="notebooks/{nb.name}">{html.escape(nb.stem)}</a></li>')
    parts.append("</ul>")
    costs = sorted((reports / "costs").glob("*.json"))
    if costs:  # written by the stage runner on every run (wall time, peak RSS of the stage's process tree)
        loaded = {p.stem: json.loads(p.read_text()) for p in costs}
        rows = "".join(f"<tr><td>{html.escape(stage)}</td><td>{_fmt(c.get('seconds'))}</td>"
                       f"<td>{_fmt(c.get('peak_rss_mb'))}</td></tr>" for stage, c in loaded.items())
        parts.append("<h2>Stage cost (last run)</h2><table><tr><th>stage</th><th>wall s</th><th>peak RSS MB</th></tr>"
                     f"{rows}</table>")
    parts.append("<h2>Metrics</h2>")
    for path in sorted((reports / "metrics").glob("*.json")):
        data = json.loads(path.read_text())
        parts.append(f'<h3><a href="metrics/{path.name}">{path.stem}</a></h3>{_metrics_table(data)}')
    parts.append("<h2>Figures</h2>")
    for folder in sorted(p for p in (reports / "figures").glob("*") if p.is_dir()):
        parts.append(f"<h3>{html.escape(folder.name)}</h3>")
        for fig in sorted(folder.glob("*.png")):
            rel = fig.relative_to(reports).as_posix()
            parts.append(f'<figure><a href="{rel}"><img src="{rel}" alt="{fig.stem}"></a>'
                         f"<figcaption>{html.escape(fig.stem)}</figcaption></figure>")
    index = reports / "index.html"
    index.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>PayLab reports</title>"
                     f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>", encoding="utf-8")
    return index
