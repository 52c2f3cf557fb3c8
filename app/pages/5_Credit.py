"""Credit: scorecard vs baseline vs latent ceiling, and an applicant form scored by the registered champion
(models:/credit@champion): score, points per feature, decision at the cutoff and the credit limit."""

from pathlib import Path

import streamlit as st

from paylab import tracking
from paylab.demo import artefacts, ui
from paylab.demo.applicant import applicant, decide
from paylab.params import load_params

ROOT = ui.root()
st.title("Credit scoring")
data = ui.require("credit")
st.caption(f"Higher score = lower risk; cutoff {data.get('cutoff', {}).get('cutoff', float('nan')):.0f} points "
           f"(approved bad rate at most {data.get('cutoff', {}).get('target_bad_rate', float('nan')):.0%}).")
st.dataframe(ui.roles_table(data, ["roc_auc", "gini", "ks", "n", "n_bad"]))
with st.expander("Figures of the credit stage"):
    ui.images(artefacts.figures(ROOT, "credit"))

st.subheader("Score an applicant")
params = load_params(ROOT / "params.yaml").get("credit", {})


@st.cache_resource(show_spinner="Loading models:/credit@champion ...")
def champion(uri: str):
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.pyfunc.load_model("models:/credit@champion").unwrap_python_model()


@st.cache_resource(show_spinner="Reading the applications ...")
def applications(interim: str, lookback: int, mtime: float):
    from paylab.credit.data import load_applications

    return load_applications(Path(interim), lookback)


interim = ROOT / "data" / "interim"
try:
    scorer = champion(tracking.tracking_uri(ROOT))
    table = applications(str(interim), int(params.get("lookback_days", 180)),
                         (interim / "loans.parquet").stat().st_mtime)
except Exception as err:  # nothing registered, or no data yet
    st.info(f"No credit champion or applications to score ({type(err).__name__}): run `make repro` first.")
    st.stop()
loan_ids = table["loan_id"].tolist()
template_id = st.selectbox("start from application", loan_ids, index=len(loan_ids) - 1,
                           help="the applicant's attributes and wallet behaviour come from this application")
template = table.set_index("loan_id").loc[template_id]
purposes = sorted(table["purpose"].dropna().astype(str).unique())
with st.form("applicant"):
    a, b, c = st.columns(3)
    amount = a.number_input("amount ($)", min_value=100.0, max_value=1e6, value=float(template["amount"]), step=100.0)
    term = a.number_input("term (months)", min_value=1, max_value=120, value=int(template["term_months"]))
    purpose = a.selectbox("purpose", purposes, index=purposes.index(str(template["purpose"])))
    income = b.number_input("yearly income ($)", min_value=0.0, max_value=1e7, value=float(template["yearly_income"]))
    debt = b.number_input("total debt ($)", min_value=0.0, max_value=1e7, value=float(template["total_debt"]))
    credit_score = c.number_input("credit score", min_value=300, max_value=850, value=int(template["credit_score"]))
    age = c.number_input("age", min_value=18, max_value=100, value=int(template["current_age"]))
    go = st.form_submit_button("Score")
if go:
    row = applicant(template, amount=amount, term_months=term, purpose=purpose, yearly_income=income,
                    total_debt=debt, credit_score=credit_score, current_age=age)
    answer = decide(scorer, row, params)
    left, mid, right = st.columns(3)
    left.metric("score", f"{answer['score']:.0f}", f"cutoff {answer['cutoff']:.0f}", delta_color="off")
    mid.metric("decision", "approve" if answer["approve"] else "decline", f"PD {answer['pd']:.1%}",
               delta_color="off")
    right.metric("credit limit", f"${answer['limit']:,.0f}", f"requested ${amount:,.0f}", delta_color="off")
    if answer["points"] is not None:
        st.dataframe(answer["points"], hide_index=True)
