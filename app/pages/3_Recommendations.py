"""Recommendations: the recommender's ranking metrics (model vs popularity baseline vs ceiling) and the served
object (models:/recsys@champion): user -> merchants, merchant -> target users."""

import streamlit as st

from paylab import tracking
from paylab.demo import artefacts, ui

ROOT = ui.root()
st.title("Merchant recommendations")
data = ui.require("recsys")
st.dataframe(ui.roles_table(data))
ui.images(artefacts.figures(ROOT, "recsys"))


@st.cache_resource(show_spinner="Loading models:/recsys@champion ...")
def recommender(uri: str):
    import mlflow

    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/recsys@champion")
    inner = model.unwrap_python_model()
    return getattr(inner, "recommender", inner)


try:
    rec = recommender(tracking.tracking_uri(ROOT))
except Exception as err:  # nothing registered yet, or a version this code cannot load
    st.info(f"No loadable `recsys` champion in the MLflow store ({type(err).__name__}): run `make repro` first.")
    st.stop()
left, right = st.columns(2)
with left.form("user"):
    user_id = st.number_input("user (client_id)", value=0, step=1)
    k = st.slider("k", 1, 20, 10)
    go_user = st.form_submit_button("Recommend merchants")
if go_user:
    try:
        left.dataframe(rec.recommend(int(user_id), int(k)), hide_index=True)
    except (KeyError, ValueError) as err:
        left.error(f"User {int(user_id)}: {err}")
with right.form("merchant"):
    merchant_id = st.number_input("merchant_id", value=0, step=1)
    k2 = st.slider("k users", 1, 50, 10)
    go_merchant = st.form_submit_button("Target users")
if go_merchant:
    try:
        right.dataframe(rec.target_users(int(merchant_id), int(k2)), hide_index=True)
    except (KeyError, ValueError) as err:
        right.error(f"Merchant {int(merchant_id)}: {err}")
