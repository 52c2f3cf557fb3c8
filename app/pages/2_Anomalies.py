"""Anomalies: unsupervised detectors scored against the fraud labels (model vs baseline vs ceiling), one row per
detector, recall per fraud scenario, and the stage's figures."""

import pandas as pd
import streamlit as st

from paylab.demo import artefacts, ui

ROOT = ui.root()
st.title("Anomaly detection")
data = ui.require("anomaly")
st.subheader("Model vs baseline vs ceiling (labels used only to evaluate)")
st.dataframe(ui.roles_table(data))
if isinstance(data.get("detectors"), dict) and data["detectors"]:
    st.subheader("Detectors")
    table = pd.DataFrame({name: {m: artefacts._ci(block, m) for m in ("roc_auc", "average_precision")}
                          for name, block in data["detectors"].items() if isinstance(block, dict)}).T
    st.dataframe(table)
if isinstance(data.get("by_scenario"), dict) and data["by_scenario"]:
    st.subheader("By fraud scenario")
    st.dataframe(pd.DataFrame(data["by_scenario"]).T)
ui.images(artefacts.figures(ROOT, "anomaly"))
