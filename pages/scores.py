"""Scores: the score histogram, a threshold, and what that threshold means."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.services import metrics, runs
from pages.common import pick_experiment, pick_run, selection_key

st.title("Scores")
exp = pick_experiment()
run = pick_run(exp) if exp else None
if run is None:
    st.stop()

df = runs.results(run.id)
score_cols = [c for c in df.columns if c == "score" or c.startswith("score_")]
ranks = runs.percentiles_by_detector(run.round_id)
if ranks.shape[1] > 3:  # two or more detectors finished in this round
    df["consensus"] = df["sample"].map(ranks["consensus"])
    score_cols.append("consensus")
col = st.sidebar.selectbox(
    "Score",
    score_cols,
    help="The detector's score, one of its components, or the consensus of this round's detectors (the mean of their percentile ranks).",
) if len(score_cols) > 1 else "score"
if col == "consensus":
    st.sidebar.caption("Consensus of " + ", ".join(ranks.columns[:-2]))
train, test = df[df.part == "train"], df[df.part == "test"]

st.caption(
    "Higher scores look more anomalous. Thresholds cannot be picked automatically on contaminated, unlabelled data: "
    "set one, and see what it means below."
)
mode = st.radio("Threshold", ["flag the top q % of the training set", "by score value"], horizontal=True, key=f"mode:{run.id}")
default_q = float(np.clip(100 * (exp.contamination or 0.05), 0.1, 50.0))
if run.threshold is not None and col == "score":
    default_q = float(np.clip(100 - metrics.percentile_rank(train[col], [run.threshold])[0], 0.1, 50.0))
if mode.startswith("flag"):
    q = st.slider("q (%)", 0.1, 50.0, default_q, 0.1, key=f"q:{run.id}:{col}")
    threshold = float(np.quantile(train[col], 1 - q / 100))
else:
    lo, hi = float(df[col].min()), float(df[col].max())
    start = run.threshold if (run.threshold is not None and col == "score") else float(np.quantile(train[col], 1 - default_q / 100))
    threshold = st.number_input("Score threshold", value=float(start), min_value=lo - abs(lo), max_value=hi + abs(hi), format="%.6g", key=f"t:{run.id}:{col}")
if col == "score" and threshold != run.threshold:
    runs.set_threshold(run.id, threshold)  # Review flags by this threshold

labels = {-1: "unknown", 0: "normal", 1: "anomaly"}
colors = {"unknown": "#7f7f7f", "normal": "#1f77b4", "anomaly": "#d62728"}
fig = make_subplots(rows=1, cols=2, subplot_titles=(f"training set ({len(train)})", f"test set ({len(test)})"), shared_xaxes=True)
for c, part in enumerate((train, test), start=1):
    for t, name in labels.items():
        values = part.loc[part.truth == t, col]
        if len(values):
            fig.add_trace(go.Histogram(x=values, name=name, marker_color=colors[name], opacity=0.7, nbinsx=60, legendgroup=name, showlegend=c == 1), row=1, col=c)
    fig.add_vline(x=threshold, line_dash="dash", line_color="black", row=1, col=c)
fig.update_layout(barmode="overlay", height=360, margin=dict(t=40, b=20), legend_title_text="known truth", dragmode="select", selectdirection="h")
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="box", key=f"hist:{run.id}:{col}")
# A box dragged over the training histogram selects the training samples in its score range.
boxes = [b for b in (event.selection.box if event and event.selection else []) if b.get("xref", "x") in ("x", "x1")]
if boxes:
    lo, hi = sorted(boxes[0]["x"][:2])
    picked = train.loc[train[col].between(lo, hi), "sample"].tolist()
    st.session_state[selection_key(exp.id)] = picked
    st.info(f"Selected {len(picked)} training samples with {col} between {lo:.4g} and {hi:.4g}: see them on **Review** and **Reconstructions**.")
else:
    st.caption("Drag across the training histogram to select the samples in that score range.")

at_train = metrics.at_threshold(train.truth, train[col], threshold)
at_test = metrics.at_threshold(test.truth, test[col], threshold)
ranks = metrics.auroc_ap(test.truth, test[col])
c = st.columns(5)
c[0].metric("Flagged in training set", f"{at_train['flagged']} / {at_train['n']}", help="With the detector's own score these are Review's “flagged” view.")
if col != "score" and st.button(f"Select the {at_train['flagged']} flagged for Review"):
    st.session_state[selection_key(exp.id)] = train.loc[train[col] >= threshold, "sample"].tolist()
    st.success("Selected: open **Review** → “selected on the map or histogram”.")
if "precision" in at_train:
    c[1].metric("Contaminants caught (train)", f"{at_train['tp']} / {int((train.truth == 1).sum())}")
    c[2].metric("Precision (train)", f"{at_train['precision']:.3f}")
if ranks:
    c[3].metric("Test AUROC", f"{ranks['auroc']:.3f}")
    c[4].metric("Test AP", f"{ranks['ap']:.3f}")
    if ranks["auroc"] < 0.5:
        # GAN detectors do this on some classes and seeds; thresholding it would reject normal images first.
        st.warning(
            f"Test AUROC {ranks['auroc']:.3f} is below chance: this score ranks the test set's anomalies *below* its normal "
            "images, so the top of the histogram holds normal images. Do not reject by it: first try another score in "
            "the sidebar (this detector's components, or the consensus when the round has several detectors) or another run."
        )
if len(score_cols) > 1:
    each = metrics.auroc_each(test.truth, {name: test[name] for name in score_cols})
    if len(each) > 1:
        st.caption("Test AUROC of each score: " + " · ".join(f"{name} {a:.3f}" for name, a in each.items()))
    # On contaminated data a detector's own score can rank worse than one of its terms
    # (GANomaly's latent score under its reconstruction error on Fashion-MNIST; see the README).
    better = metrics.better_score(each, col)
    if better:
        # Review's "flagged" view follows the detector's own score; any other needs a selection.
        act = (
            "pick it under **Score** in the sidebar: Review's “flagged” view follows it"
            if better == "score"
            else "pick it under **Score** in the sidebar, then **Select the … flagged for Review** and work from "
            "Review's “selected” view (its “flagged” view follows the detector's own score)"
        )
        st.info(f"**{better}** ranks this test set better than **{col}** (AUROC {each[better]:.3f} against {each[col]:.3f}): {act}.")
if "f1" in at_test:
    st.caption(f"Test set at this threshold: precision {at_test['precision']:.3f} · recall {at_test['recall']:.3f} · F1 {at_test['f1']:.3f} · {at_test['flagged']} of {at_test['n']} flagged")

roc = metrics.roc_points(test.truth, test[col])
if roc is not None:
    fpr, tpr = roc
    curve = go.Figure(go.Scatter(x=fpr, y=tpr, mode="lines", name="ROC"))
    curve.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey"), name="chance"))
    curve.update_layout(height=320, width=380, xaxis_title="false-positive rate", yaxis_title="true-positive rate", title="ROC, test set", margin=dict(t=40, b=20))
    st.plotly_chart(curve)
elif exp.anomaly_classes:
    st.caption("The test set lacks one of the classes, so AUROC and the ROC curve are not defined.")
else:
    st.caption("No known truth in this experiment: only flagged counts are shown.")
