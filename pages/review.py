"""Review: look at flagged or selected samples; reject, restore or relabel them."""
import pandas as pd
import streamlit as st

from core.services import datasets, experiments, review, runs
from pages.common import pick_experiment, pick_run, selected, show_grid

st.title("Review")
exp = pick_experiment()
run = pick_run(exp) if exp else None
if run is None:
    st.stop()

df = runs.results(run.id)
train = df[df.part == "train"]
threshold = run.threshold if run.threshold is not None else float(train.score.quantile(0.95))
FILTERS = {
    "flagged (score ≥ threshold)": lambda d: d[(d.part == "train") & (d.score >= threshold)],
    "selected on the latent map": lambda d: d[d["sample"].isin(selected(exp.id))],
    "suggested by the detector": lambda d: d[d.suggested > 0],
    "rejected": lambda d: d[d.status == "rejected"],
    "all training samples": lambda d: d[d.part == "train"],
}
which = st.radio("Show", list(FILTERS), horizontal=True)
shown = FILTERS[which](df).sort_values("score", ascending=False)
st.caption(f"{len(shown)} samples · threshold {threshold:.4g} (set it on **Scores**) · run {run.id}, {run.detector}")
if shown.empty:
    st.info("Nothing to review in this view.")
    st.stop()

per_page = 48
pages = (len(shown) - 1) // per_page + 1
page = st.number_input(f"Page (of {pages})", 1, pages, 1) if pages > 1 else 1
view = shown.iloc[(page - 1) * per_page : page * per_page]

images = datasets.images(experiments.dataset_of(exp).id, view["sample"].to_numpy())
marks = {"rejected": "✗ ", "active": ""}
show_grid(images, [f"{marks[s]}#{i} {lab}".strip() for i, s, lab in zip(view["sample"], view["status"], view["label"])])

table = view[["sample", "class", "score", "percentile", "status", "label", "suggested", "part"]].rename(
    columns={"class": "known class", "suggested": "set aside at step"}
)
event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row", key=f"review:{run.id}:{which}:{page}", width="stretch")
ticked = table.iloc[event.selection.rows]["sample"].tolist() if event and event.selection.rows else []

with st.form("decide"):
    c1, c2 = st.columns(2)
    action = c1.radio("Decision", ["reject", "restore", "normal", "anomaly"], horizontal=True, captions=["leave the training set", "come back", "label: normal", "label: anomaly"])
    scope = c2.radio("Apply to", [f"ticked rows ({len(ticked)})", f"all {len(shown)} in this view"])
    if st.form_submit_button("Apply", type="primary"):
        targets = ticked if scope.startswith("ticked") else shown["sample"].tolist()
        if not targets:
            st.warning("Tick rows in the table first, or apply to the whole view.")
        else:
            n = review.decide(exp.id, targets, action, user=st.session_state.get("user", ""), view=f"review: {which}", round_number=runs.round_of(run).number)
            st.success(f"Recorded “{action}” for {n} samples.")
            st.rerun()

trail = review.trail(exp.id)
with st.expander(f"Audit trail ({len(trail)} decisions)"):
    st.dataframe(trail.sort_values("id", ascending=False), hide_index=True)
    st.download_button("Download CSV", trail.to_csv(index=False).encode(), file_name=f"decisions-experiment-{exp.id}.csv", mime="text/csv")
    state = review.current_state(exp.id)
    if not state.empty:
        st.download_button("Download current labels (CSV)", pd.DataFrame(state).reset_index().to_csv(index=False).encode(), file_name=f"labels-experiment-{exp.id}.csv", mime="text/csv")
