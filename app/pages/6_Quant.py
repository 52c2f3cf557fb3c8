"""Quant: the signal's IC, RankIC and ICIR (model vs best single factor vs latent ceiling, with intervals), the
monthly RankIC, quantile returns and the long-short equity curves after costs."""

import streamlit as st

from paylab.demo import artefacts, ui

ROOT = ui.root()
st.title("Quant signals")
data = ui.require("quant")
st.dataframe(ui.roles_table(data, ["ic", "rank_ic", "icir", "ls_net_sharpe", "ls_net_annual_return",
                                   "lo_net_excess_annual_return"]))
ic = ui.csv("reports/plots/quant_ic.csv")
if ic is not None:
    st.subheader("RankIC, monthly mean of daily RankIC")
    st.line_chart(ic.set_index("date"))
equity = ui.csv("reports/plots/quant_equity.csv")
if equity is not None:
    st.subheader("Long-short equity (gross and net of costs)")
    st.line_chart(equity.set_index("date"))
quantile_figures = [p for p in artefacts.figures(ROOT, "quant") if "quantile" in p.stem]
if quantile_figures:
    st.subheader("Returns by signal quantile")
    ui.images(quantile_figures, columns=2)
with st.expander("Every figure of the quant stage"):
    ui.images(artefacts.figures(ROOT, "quant"))
