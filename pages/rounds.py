"""Rounds: retrain without the rejected samples and compare rounds side by side."""
import plotly.express as px
import streamlit as st

from core.services import review, rounds, runs
from pages.common import esc, pick_experiment

st.title("Rounds")
exp = pick_experiment()
if exp is None:
    st.stop()

gone = len(review.rejected(exp.id))
confirmed = len(rounds.confirmed_anomalies(exp.id))
st.caption(
    f"Each round trains on the experiment's training set minus the samples rejected so far ({gone} now); "
    f"{confirmed} training sample(s) are labelled anomaly. \"confirmed anomalies\" counts them when each round was made, "
    "\"negatives\" how many a run trained on as negative examples."
)
catalog = {d["name"]: d["title"] for d in runs.detectors()}
with st.form("retrain", enter_to_submit=False):  # Enter in the weight box must not start a round
    chosen = st.multiselect("Detectors for the next round", list(catalog), default=list(catalog)[:1], format_func=catalog.get)
    preset = st.radio("Preset", ["quick", "paper"], horizontal=True)
    weighted = ", ".join(d["name"] for d in runs.detectors() if d["supports_weights"])
    negatives = st.checkbox(
        "Use confirmed anomalies as negative examples (detectors that accept sample weights)",
        help=f"Rejected samples labelled anomaly train {weighted} with the weight below; the other detectors skip them.",
    )
    weight = st.number_input("Negative weight", min_value=-1.0, max_value=-0.01, value=rounds.NEGATIVE_WEIGHT, step=0.05)
    if st.form_submit_button(f"Retrain without the {gone} rejected samples", type="primary"):
        try:
            rnd, queued = rounds.retrain(exp.id, chosen, preset, negatives=negatives, negative_weight=weight)
            extra = f", {rnd.n_negatives} negative example(s)" if negatives else ""
            st.success(f"Round {rnd.number} queued: {rnd.n_train} training samples{extra}, {len(queued)} job(s). Follow them on **Train**.")
        except ValueError as e:
            st.error(esc(e))

table = rounds.table(exp.id)
st.dataframe(table, hide_index=True, width="stretch")
done = table.dropna(subset=["test AUROC"]) if "test AUROC" in table else table.iloc[0:0]
if len(done):
    c1, c2 = st.columns(2)
    fig = px.line(done, x="round", y="test AUROC", color="detector", markers=True, title="Test AUROC by round")
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(range=[min(0.5, float(done["test AUROC"].min()) - 0.02), 1.005])
    c1.plotly_chart(fig, width="stretch")
    if table["contaminants left"].notna().any():
        per_round = table.drop_duplicates("round")
        fig = px.bar(per_round, x="round", y="contaminants left", text_auto=True, title="Known anomalies left in the training set")
        fig.update_xaxes(dtick=1)
        c2.plotly_chart(fig, width="stretch")
