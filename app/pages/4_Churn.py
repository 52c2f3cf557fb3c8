"""Churn: the churn model's metrics (model vs baseline vs ceiling) and the at-risk list read from the churn
database (params.yaml `churn.db_url`)."""

import streamlit as st

from paylab.demo import artefacts, ui
from paylab.params import load_params

ROOT = ui.root()
st.title("Churn")
data = ui.require("churn")
st.dataframe(ui.roles_table(data))
ui.images(artefacts.figures(ROOT, "churn"))


@st.cache_data(ttl=60, show_spinner="Reading the at-risk list ...")
def at_risk(db_url: str, limit: int):
    from paylab.churn.retention import at_risk as query

    return query(db_url, limit=limit)


st.subheader("Users at risk (from the churn database)")
db_url = (load_params(ROOT / "params.yaml").get("churn") or {}).get("db_url")
limit = st.slider("rows", 10, 500, 100, step=10)
if not db_url:
    st.info("params.yaml has no `churn.db_url`: run `make repro` first.")
else:
    try:
        st.dataframe(at_risk(db_url, int(limit)), hide_index=True)
    except Exception as err:  # no database yet, or the module is not built: say so
        st.info(f"The at-risk list is not available ({type(err).__name__}: {str(err)[:200]}): run `make repro` "
                "first.")
