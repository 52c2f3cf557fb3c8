"""Fraud: what the stage measured (model vs baseline vs achievable reference vs latent ceiling, with intervals;
strategies, decisions) and a live decision from the
registered champion service (models:/fraud@champion)."""

import json
import os
from datetime import timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from paylab import tracking
from paylab.paths import project_root
from paylab.report import metric_roles

ROOT = project_root() if os.environ.get("PAYLAB_ROOT") else Path(__file__).resolve().parents[2]
METRICS = ROOT / "reports" / "metrics" / "fraud.json"
FIGURES = ROOT / "reports" / "figures" / "fraud"

st.set_page_config(page_title="PayLab · Fraud", layout="wide")
st.title("Fraud detection")
if not METRICS.exists():
    st.warning("No fraud report yet: run `make repro` first.")
    st.stop()

data = json.loads(METRICS.read_text())
roles = metric_roles(data)
st.subheader("Test window: model vs logistic baseline, achievable reference and latent ceiling")
st.caption("The latent ceiling sees the generator's hidden episodes (which cards and terminals are compromised), which "
           "no model can; the achievable reference is the same pipeline trained on a much longer history. Intervals: "
           "95%, block bootstrap by day.")
st.dataframe(pd.DataFrame({r: data[r] for r in roles}))
if data.get("differences"):
    st.markdown("**Model − baseline** (paired bootstrap; \"better\" only when the interval excludes zero)")
    st.dataframe(pd.DataFrame(data["differences"].get("model_minus_baseline", {})).T)
left, right = st.columns(2)
left.subheader("Models x imbalance strategies (prequential folds)")
if data.get("comparison"):
    left.dataframe(pd.DataFrame(data["comparison"]).T.sort_values("average_precision", ascending=False))
right.subheader("Decision engine on the test window")
right.dataframe(pd.Series(data.get("decision", {}), name="value"))
for column, fig in zip(st.columns(3) * 10, sorted(FIGURES.glob("*.png")), strict=False):
    column.image(str(fig), caption=fig.stem)

st.subheader("Decide one payment with the registered champion")


@st.cache_resource(show_spinner="Loading models:/fraud@champion ...")
def champion(uri: str):
    import mlflow

    from paylab.fraud.registry import load_champion

    mlflow.set_tracking_uri(uri)
    return load_champion()


try:
    found = champion(tracking.tracking_uri(ROOT))
except Exception as err:  # e.g. a version pickled by an older paylab whose classes have moved: say so, don't crash
    st.error(f"models:/fraud@champion could not be loaded ({type(err).__name__}: {err}); run the fraud stage with "
             "`fraud.register: true` to register a service this code can load.")
    st.stop()
if found is None:
    st.info("No `fraud` model with the alias `champion` in the MLflow store: run the fraud stage with "
            "`fraud.register: true`.")
    st.stop()
service, version = found
last = pd.Timestamp(service.describe()["last_timestamp"] or "2019-10-31")
with st.form("payment"):
    a, b, c = st.columns(3)
    card_id = a.number_input("card_id", value=0, step=1)
    client_id = a.number_input("client_id", value=0, step=1)
    merchant_id = b.number_input("merchant_id", value=0, step=1)
    mcc = b.number_input("mcc", value=5411, step=1)
    amount = c.number_input("amount ($)", value=49.99)
    channel = c.selectbox("channel", ["online", "chip", "swipe"])
    errors = st.selectbox("errors", ["", "Bad CVV", "Bad Card Number", "Bad Expiration", "Insufficient Balance"])
    submitted = st.form_submit_button("Decide (the state is not changed)")
if submitted:
    txn = {"transaction_id": -1, "timestamp": (last + timedelta(minutes=1)).isoformat(), "client_id": int(client_id),
           "card_id": int(card_id), "merchant_id": int(merchant_id), "amount": float(amount), "channel": channel,
           "mcc": int(mcc), "errors": errors or None}
    answer = service.decide(txn, update=False)
    st.metric(f"decision of fraud v{version}", answer["decision"], f"p(fraud) = {answer['proba']:.3f}")
    for reason in answer["reasons"]:
        st.write("- " + reason)
