"""Winnow: find the anomalies hiding in a training set, and train a detector they don't fool."""
import streamlit as st

from core.services import access, system

st.set_page_config(page_title="Winnow", page_icon=":material/grain:", layout="wide")

# A team server sets WINNOW_PASSWORD: nothing below (not even a worker) runs before sign-in.
if access.required() and not st.session_state.get("signed_in"):
    st.title("Winnow")
    with st.form("sign_in"):
        password = st.text_input("Team password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            if access.check(password):
                st.session_state["signed_in"] = True
                st.rerun()
            st.error("That is not the team's password.")
    st.stop()

# Training belongs to the worker; make sure one is there to take it.
system.ensure_worker()
st.sidebar.caption(f"Worker: {system.worker_summary()}")
st.sidebar.text_input("Your name (for the audit trail)", key="user")

nav = st.navigation(
    {
        "Set up": [
            st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
            st.Page("pages/experiment.py", title="Experiment", icon=":material/science:"),
            st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        ],
        "Explore": [
            st.Page("pages/scores.py", title="Scores", icon=":material/bar_chart:"),
            st.Page("pages/reconstructions.py", title="Reconstructions", icon=":material/compare:"),
            st.Page("pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
        ],
        "Decide": [
            st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
            st.Page("pages/rounds.py", title="Rounds", icon=":material/replay:"),
        ],
    }
)
nav.run()
