"""Overview: which stages ran (when, from which commit, at what cost) and each module's headline metric, model vs
baseline vs ceiling with 95% intervals."""

import pandas as pd
import streamlit as st

from paylab.demo import artefacts, ui
from paylab.report import metric_roles
from paylab.stages import flat_metrics

ROOT = ui.root()
st.title("PayLab")
st.caption("Reproducible payment data science: every figure here was rebuilt by `make repro`.")

metrics_files = sorted((ROOT / "reports" / "metrics").glob("*.json"))
if not metrics_files:
    st.warning("No reports yet: run `make repro` first.")
    st.stop()

st.subheader("Headline per module: model vs baseline vs ceiling")
st.caption("95% bootstrap intervals in brackets; the ceiling is latent (it sees the generator's hidden state).")
st.dataframe(artefacts.headline(ROOT), width="stretch")
st.subheader("Pipeline status")
st.dataframe(artefacts.stage_status(ROOT), width="stretch")

st.subheader("Every metrics file")
for path in metrics_files:
    data = ui.metrics(path.stem)
    with st.expander(path.stem, expanded=path.stem in {"eda", "features"}):
        roles = metric_roles(data)
        if roles:
            st.dataframe(pd.DataFrame({r: data[r] for r in roles}))
        else:
            st.dataframe(pd.Series(flat_metrics(data), name="value"))
