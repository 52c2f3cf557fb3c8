"""PayLab demo: `make app` (streamlit run app/Home.py). One page per module, reading only pipeline artefacts
(reports/, data/interim for the fraud form's known ids), the churn database and the MLflow registry."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="PayLab", layout="wide")
navigation = st.navigation([
    st.Page(PAGES / "0_Overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page(PAGES / "1_Fraud.py", title="Fraud", icon=":material/credit_card:"),
    st.Page(PAGES / "2_Anomalies.py", title="Anomalies", icon=":material/scatter_plot:"),
    st.Page(PAGES / "3_Recommendations.py", title="Recommendations", icon=":material/storefront:"),
    st.Page(PAGES / "4_Churn.py", title="Churn", icon=":material/person_remove:"),
    st.Page(PAGES / "5_Credit.py", title="Credit", icon=":material/account_balance:"),
    st.Page(PAGES / "6_Quant.py", title="Quant", icon=":material/show_chart:"),
    st.Page(PAGES / "7_Drift.py", title="Drift", icon=":material/monitoring:"),
])
navigation.run()
