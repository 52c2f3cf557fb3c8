"""Fraud: what the stage measured (model vs baseline vs achievable reference vs latent ceiling, with intervals;
strategies, decisions), a live decision from the registered champion service (models:/fraud@champion) on a
validated payment with its SHAP waterfall, and the test window's alert queue."""

import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from paylab import tracking
from paylab.demo import artefacts, ui
from paylab.demo.payment import PaymentFacts, score_payment

ROOT = ui.root()
st.title("Fraud detection")
data = ui.require("fraud")
st.subheader("Test window: model vs logistic baseline, achievable reference and latent ceiling")
st.caption("The latent ceiling sees the generator's hidden episodes (which cards and terminals are compromised), which "
           "no model can; the achievable reference is the same pipeline trained on a much longer history. Intervals: "
           "95%, block bootstrap by day.")
st.dataframe(ui.roles_table(data, ["roc_auc", "average_precision", "ks", "recall_at_fpr_1pct",
                                   "card_precision_at_k", "n", "n_positive"]))
if data.get("differences"):
    st.markdown("**Model − baseline** (paired bootstrap; \"better\" only when the interval excludes zero)")
    st.dataframe(pd.DataFrame(data["differences"].get("model_minus_baseline", {})).T)
left, right = st.columns(2)
left.subheader("Models x imbalance strategies (prequential folds)")
if data.get("comparison"):
    left.dataframe(pd.DataFrame(data["comparison"]).T.sort_values("average_precision", ascending=False))
right.subheader("Decision engine on the test window")
right.dataframe(pd.Series({k: artefacts.number(v) for k, v in data.get("decision", {}).items()}, name="value"))
with st.expander("Figures of the fraud stage"):
    ui.images(artefacts.figures(ROOT, "fraud"))

st.subheader("Alert queue of the test window")
alerts = ui.csv("reports/figures/monitoring/alert_queue.csv")
if alerts is None:
    st.info("No alert queue yet: the monitoring stage writes it (run `make repro` first).")
else:
    st.caption(f"The {len(alerts)} highest-scored payments of the test window by the champion; "
               f"{int((alerts['label'] == 'fraud').sum())} are labelled fraud.")
    st.dataframe(alerts, hide_index=True, height=240)

st.subheader("Decide one payment with the registered champion")


@st.cache_resource(show_spinner="Loading models:/fraud@champion ...")
def champion(uri: str):
    import mlflow

    from paylab.fraud.registry import load_champion

    mlflow.set_tracking_uri(uri)
    return load_champion()


@st.cache_resource(show_spinner="Reading the known cards and merchants ...")
def facts(interim: str, mtime: float) -> PaymentFacts:
    return PaymentFacts.from_interim(Path(interim))


interim = ROOT / "data" / "interim"
try:
    known = facts(str(interim), (interim / "transactions.parquet").stat().st_mtime)
except (FileNotFoundError, OSError):
    st.info("No data/interim yet: run `make repro` first to score a payment.")
    st.stop()
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
last = pd.Timestamp(service.describe()["last_timestamp"] or known.last)
cards, merchants = known.examples(1)
with st.form("payment"):
    a, b, c = st.columns(3)
    card_id = a.number_input("card_id", value=cards[0], step=1, help=f"{len(known.cards):,} known cards")
    merchant_id = a.number_input("merchant_id", value=merchants[0], step=1,
                                 help=f"{len(known.merchants):,} known merchants")
    amount = b.number_input("amount ($)", value=49.99, format="%.2f")
    channel = b.selectbox("channel", ["online", "chip", "swipe"])
    day = c.date_input("date", value=(last + timedelta(minutes=1)).date())
    at = c.time_input("time", value=time(12, 0))
    errors = st.selectbox("errors", ["", "Bad CVV", "Bad Card Number", "Bad Expiration", "Insufficient Balance"])
    submitted = st.form_submit_button("Decide (the state is not changed)")
if submitted:
    when = datetime.combine(day, at)
    problems = known.validate(card_id, merchant_id, amount, when)
    if problems:
        for problem in problems:
            st.error(problem)
    else:
        txn = known.transaction(card_id, merchant_id, amount, when, channel, errors)
        with tempfile.TemporaryDirectory() as tmp:
            answer = score_payment(service, txn, Path(tmp) / "waterfall.png")
            st.metric(f"decision of fraud v{version}", answer["decision"], f"p(fraud) = {answer['proba']:.3f}",
                      delta_color="off")
            st.markdown("**Reasons**: " + ("; ".join(answer["reasons"]) or "none (approved)"))
            st.image(answer["waterfall"].read_bytes(), caption="SHAP waterfall (fraud log-odds) of this payment")
