"""reports/index.html, the walkthrough: one story per module (business question, an answer generated from its
metrics, the key figure, model vs baseline vs ceiling with intervals, links to the executed notebook, its reveal.js
slides and the drift reports), then the stage costs and every metric in an appendix."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path

from paylab.stages import flat_metrics
from paylab.story import MODULES, answer, number, with_ci

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}figure{display:inline-block;margin:.4rem;width:320px;vertical-align:top}
figure img{width:100%;border:1px solid #ddd}figcaption{font-size:.8rem}h2{border-bottom:2px solid #2a6;}
.row{display:flex;gap:1rem;align-items:flex-start}.a{font-size:1.05rem;background:#f3f8f4;padding:.5rem .8rem}
section{margin-bottom:2rem}"""


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
    if isinstance(value, int | float):
        return number(value)
    return "" if value is None else html.escape(str(value))


def _figure(reports: Path, fig: Path, width: int = 320) -> str:
    rel = fig.relative_to(reports).as_posix()
    return (f'<figure style="width:{width}px"><a href="{rel}"><img src="{rel}" alt="{fig.stem}"></a>'
            f"<figcaption>{html.escape(fig.stem)}</figcaption></figure>")


def _key_figure(reports: Path, module: str, stem: str) -> Path | None:
    folder = reports / "figures" / module
    figures = sorted(folder.glob("*.png")) if folder.is_dir() else []
    named = [f for f in figures if f.stem == stem] or [f for f in figures if stem in f.stem]
    return (named or figures or [None])[0]


def _roles_table(data: dict, metric: str) -> str:
    """Model vs baseline vs reference vs ceiling on the headline metric (and its siblings with intervals)."""
    roles = metric_roles(data)
    if not roles:
        return ""
    names = [metric] + [m for m in ("roc_auc", "average_precision", "ks", "rank_ic", "ndcg_at_10")
                        if m != metric and any(with_ci(data[r], m) for r in roles)][:2]
    head = "".join(f"<th>{html.escape(r.replace('_', ' '))}</th>" for r in roles)
    rows = "".join(f"<tr><td>{html.escape(n)}</td>" + "".join(f"<td>{with_ci(data[r], n)}</td>" for r in roles)
                   + "</tr>" for n in names if any(with_ci(data[r], n) for r in roles))
    return f"<table><tr><th>metric (95% interval)</th>{head}</tr>{rows}</table>" if rows else ""


def _links(reports: Path, module: str, notebook: str) -> str:
    links = []
    if (reports / "notebooks" / f"{notebook}.html").exists():
        links.append(f'<a href="notebooks/{notebook}.html">executed notebook</a>')
    if (reports / "slides" / f"{notebook}.slides.html").exists():
        links.append(f'<a href="slides/{notebook}.slides.html">slides</a>')
    if (reports / "metrics" / f"{module}.json").exists():
        links.append(f'<a href="metrics/{module}.json">metrics JSON</a>')
    return " · ".join(links)


def _story(reports: Path, module: str, data: dict) -> str:
    m = MODULES[module]
    parts = [f'<section id="{module}"><h2>{html.escape(m.title)}</h2>',
             f"<p class='q'><b>Question.</b> {html.escape(m.question)}</p>",
             f"<p class='a'><b>Answer.</b> {html.escape(answer(module, data))}</p>"]
    fig = _key_figure(reports, module, m.figure)
    table = _roles_table(data, m.metric)
    if fig is not None or table:
        parts.append("<div class='row'>" + (_figure(reports, fig, 520) if fig is not None else "")
                     + f"<div>{table}</div></div>")
    if module == "monitoring" and isinstance(data.get("reports"), dict):
        drift = " · ".join(f'<a href="{html.escape(p)}">{html.escape(k)}</a>' for k, p in data["reports"].items())
        parts.append(f"<p>Evidently drift reports per month: {drift}</p>")
    parts.append(f"<p class='links'>{_links(reports, module, m.notebook)}</p></section>")
    return "".join(parts)


def export_slides(reports: Path) -> list[Path]:
    """Each executed notebook reports/notebooks/*.ipynb as reveal.js slides in reports/slides/ (nbconvert; every
    cell a slide, inputs hidden: a presentation of the outputs). Returns the files written."""
    import nbformat
    from nbconvert import SlidesExporter

    out = reports / "slides"
    out.mkdir(parents=True, exist_ok=True)
    exporter = SlidesExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    written = []
    for nb_path in sorted((reports / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:  # a markdown heading opens a slide; the rest follow on it as sub-slides
            starts = cell.cell_type == "markdown" and cell.source.lstrip().startswith("#")
            cell.metadata["slideshow"] = {"slide_type": "slide" if starts else "subslide"}
        body, _ = exporter.from_notebook_node(nb)
        path = out / f"{nb_path.stem}.slides.html"
        path.write_text(body, encoding="utf-8")
        written.append(path)
    return written


def build_index(reports: Path, slides: bool = False) -> Path:
    """Write reports/index.html from what is in reports/ now: one story per module (question, generated answer, key
    figure, model vs baseline vs ceiling, links), then the stage costs and every metric; returns its path. With
    `slides`, the executed notebooks are exported as reveal.js slides first."""
    if slides:
        export_slides(reports)
    stories = []
    for module in MODULES:
        path = reports / "metrics" / f"{module}.json"
        if path.exists():
            stories.append(_story(reports, module, json.loads(path.read_text())))
        else:
            stories.append(f'<section id="{module}"><h2>{html.escape(MODULES[module].title)}</h2><p class="q">'
                           f"<b>Question.</b> {html.escape(MODULES[module].question)}</p><p>Not built yet: run "
                           "<code>make repro</code> first.</p></section>")
    toc = " · ".join(f'<a href="#{m}">{html.escape(MODULES[m].title)}</a>' for m in MODULES)
    parts = [f"<h1>PayLab: the walkthrough</h1><p>Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
             "<code>make repro</code>. Each section asks a business question, answers it from the measured numbers "
             "and compares the model with a baseline and with a latent ceiling (the generator's hidden state, which "
             f"no model can see). Brackets are 95% bootstrap intervals.</p><p>{toc}</p>", *stories,
             "<h2>Appendix: notebooks</h2><ul>"]
    for nb in sorted((reports / "notebooks").glob("*.html")):
        parts.append(f'<li><a href="notebooks/{nb.name}">{html.escape(nb.stem)}</a></li>')
    parts.append("</ul>")
    costs = sorted((reports / "costs").glob("*.json"))
    if costs:  # written by the stage runner on every run (wall time, peak RSS of the stage's process tree)
        loaded = {p.stem: json.loads(p.read_text()) for p in costs}
        rows = "".join(f"<tr><td>{html.escape(stage)}</td><td>{_fmt(c.get('seconds'))}</td>"
                       f"<td>{_fmt(c.get('peak_rss_mb'))}</td><td>{html.escape(str(c.get('finished_utc', '')))}</td>"
                       f"<td>{html.escape(str(c.get('commit', ''))[:8])}</td></tr>" for stage, c in loaded.items())
        parts.append("<h2>Stage cost (last run)</h2><table><tr><th>stage</th><th>wall s</th><th>peak RSS MB</th>"
                     f"<th>finished (UTC)</th><th>commit</th></tr>{rows}</table>")
    parts.append("<h2>Appendix: every metric</h2>")
    for path in sorted((reports / "metrics").glob("*.json")):
        data = json.loads(path.read_text())
        parts.append(f'<details><summary><a href="metrics/{path.name}">{path.stem}</a></summary>'
                     f"{_metrics_table(data)}</details>")
    index = reports / "index.html"
    index.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>PayLab walkthrough</title>"
                     f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>", encoding="utf-8")
    return index
