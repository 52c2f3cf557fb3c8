"""PayLab demo home: what every stage measured, read from reports/ (artefacts only, never raw data)."""

import json
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from paylab.paths import reports_dir
from paylab.report import metric_roles
from paylab.stages import flat_metrics

# the checkout this app lives in, unless PAYLAB_ROOT points elsewhere
REPORTS = reports_dir() if os.environ.get("PAYLAB_ROOT") else reports_dir(Path(__file__).resolve().parents[1])

st.set_page_config(page_title="PayLab", layout="wide")
st.title("PayLab")
st.caption("Reproducible payment data science: every figure here was rebuilt by `make repro`.")

metrics_files = sorted((REPORTS / "metrics").glob("*.json"))
if not metrics_files:
    st.warning("No reports yet: run `make repro` first.")
    st.stop()

for path in metrics_files:
    data = json.loads(path.read_text())
    with st.expander(path.stem, expanded=path.stem in {"eda", "features"}):
        roles = metric_roles(data)
        if roles:
            st.dataframe(pd.DataFrame({r: data[r] for r in roles}))
        else:
            st.dataframe(pd.Series(flat_metrics(data), name="value"))
        figures = sorted((REPORTS / "figures" / path.stem).glob("*.png"))
        for column, fig in zip(st.columns(3) * (len(figures) // 3 + 1), figures, strict=False):
            column.image(str(fig), caption=fig.stem)
