"""Drift: PSI per feature and month since the fraud model's training window (Evidently's equal-width PSI beside the
reference-decile PSI the 0.1 / 0.25 bands apply to), the fraud model per month, and the Evidently reports."""

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from paylab.demo import artefacts, ui
from paylab.monitoring import summary

ROOT = ui.root()
st.title("Drift monitoring")
data = ui.require("monitoring")
st.markdown("\n".join(f"- {t}" for t in (summary.drift_sentence(data), summary.years_sentence(data),
                                          summary.performance_sentence(data)) if t))
heat = ROOT / "reports" / "figures" / "monitoring" / "psi_heatmap.png"
if heat.exists():
    st.image(str(heat), caption="PSI heat map: Evidently (left) and reference deciles (right; the bands' binning)")
left, right = st.columns(2)
left.markdown("**PSI on reference deciles** (bands: < 0.1 stable, 0.1-0.25 watch, >= 0.25 investigate / retrain)")
left.dataframe(pd.DataFrame(data.get("psi_reference_deciles", {})).T.round(3))
right.markdown("**Evidently PSI** (equal-width bins over both samples)")
right.dataframe(pd.DataFrame(data.get("psi_evidently", {})).T.round(3))
st.subheader("The fraud model per month")
st.dataframe(pd.DataFrame(data.get("by_month", {})).T.map(artefacts.number))
ui.images([p for p in artefacts.figures(ROOT, "monitoring") if p.stem != "psi_heatmap"], columns=2)

st.subheader("Evidently reports")
reports = data.get("reports", {})
if reports:
    month = st.selectbox("month", list(reports))
    path = ROOT / "reports" / reports[month]
    st.caption(f"reports/{reports[month]} (open it in a browser for the full page)")
    if path.exists() and st.toggle("show the report here (a few MB)"):
        components.html(path.read_text(encoding="utf-8"), height=900, scrolling=True)
