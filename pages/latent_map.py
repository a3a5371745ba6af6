"""Latent map: the detector's latent space in 2-D; lasso or box samples for review."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.services import datasets, experiments, review, runs
from pages.common import pick_experiment, pick_run, selection_key, show_grid
from pages.hover_thumbnail import hover_thumbnails

st.title("Latent map")
exp = pick_experiment()
run = pick_run(exp) if exp else None
if run is None:
    st.stop()

if run.embedding != "umap":

    @st.fragment(run_every=2.0)
    def wait_for_umap() -> None:
        state = runs.get_run(run.id).embedding
        if state == "umap":
            st.rerun(scope="app")
        st.caption(":material/hourglass_top: UMAP is being computed in the worker; showing PCA of the latents meanwhile." if state == "pca" else ":material/hourglass_top: The latent map is being computed in the worker.")

    wait_for_umap()

df = runs.results(run.id)
if "x" not in df:
    st.stop()
df["flag"] = df["suggested"] > 0
if not st.toggle("Include the test set", help="Only training samples can be rejected; test samples show where known anomalies land."):
    df = df[df.part == "train"]

# Categorical colourings: (column, [(value in column, name, colour), …]).
CATEGORIES = {
    "known truth": ("truth", [(-1, "unknown", "#7f7f7f"), (0, "normal", "#1f77b4"), (1, "anomaly", "#d62728")]),
    "status": ("status", [("active", "active", "#1f77b4"), ("rejected", "rejected", "#d62728")]),
    "your label": ("label", [("", "none", "#c7c7c7"), ("normal", "normal", "#1f77b4"), ("anomaly", "anomaly", "#d62728")]),
    "part": ("part", [("train", "train", "#1f77b4"), ("test", "test", "#ff7f0e")]),
    "detector suggestion": ("flag", [(False, "not suggested", "#c7c7c7"), (True, "set aside by the detector", "#d62728")]),
}
by = st.radio("Colour by", ["score", *CATEGORIES], horizontal=True)
if by == "score":
    values, marker = df["score"].to_numpy(), dict(colorscale="Viridis", colorbar=dict(title="score"))
else:
    column, cats = CATEGORIES[by]
    values = df[column].map({v: i for i, (v, _, _) in enumerate(cats)}).fillna(0).to_numpy()
    k = len(cats)
    # One trace with a numeric colour and a stepped colourscale: splitting into traces would
    # make point indices collide across traces (see the design notes).
    scale = [[edge, c] for i, (_, _, c) in enumerate(cats) for edge in (i / k, (i + 1) / k)]
    marker = dict(colorscale=scale, cmin=-0.5, cmax=k - 0.5, colorbar=dict(title=by, tickvals=list(range(k)), ticktext=[n for _, n, _ in cats]))

# Numbers only, sent as typed arrays: per-point hover strings tripled the figure at 70,000 points.
# The class, status and image come with the hover thumbnail below.
fig = go.Figure(
    go.Scattergl(
        x=df["x"].to_numpy(np.float32),
        y=df["y"].to_numpy(np.float32),
        mode="markers",
        customdata=df["sample"].to_numpy(np.int32),  # one number per point: selections hand it back as is
        hovertemplate="#%{customdata}" + ("<br>score %{marker.color:.4g}" if by == "score" else "") + "<extra></extra>",
        marker=dict(size=6 if len(df) < 5000 else 3, color=np.asarray(values, np.float32), opacity=0.85, **marker),
    )
)
fig.update_layout(height=620, dragmode="lasso", margin=dict(t=10, b=10, l=10, r=10), xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
st.caption(f"{'UMAP' if run.embedding == 'umap' else 'PCA'} of {len(df)} latent vectors from {run.detector}. Draw a lasso or a box to select samples; hover a point to see its image.")
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("lasso", "box", "points"), key=f"map:{run.id}", width="stretch")
dataset_id = experiments.dataset_of(exp).id
by_sample = df.set_index("sample")[["class", "part", "status", "score"]]  # looked up on hover only


def about(s: int) -> str:
    c, part, status, score = by_sample.loc[s]
    return f"#{s} · {c or '?'} · {part} · {status} · score {score:.4g}"


hover_thumbnails(lambda s: datasets.images(dataset_id, [s])[0], about)

points = event.selection.points if event and event.selection else []
if points:
    ids = sorted({int(np.ravel([p["customdata"]])[0]) for p in points if "customdata" in p})
    st.session_state[selection_key(exp.id)] = ids
chosen = st.session_state.get(selection_key(exp.id), [])
c1, c2, c3 = st.columns([2, 1, 1])
c1.markdown(f"**{len(chosen)} selected** · see them on **Review** and **Reconstructions**")
if c2.button("Reject selected", disabled=not chosen, type="primary"):
    n = review.decide(exp.id, chosen, "reject", user=st.session_state.get("user", ""), view="latent map", round_number=runs.round_of(run).number)
    st.success(f"Rejected {n} samples. They leave the training set in the next round (**Rounds**).")
if c3.button("Clear selection", disabled=not chosen):
    st.session_state[selection_key(exp.id)] = []
    st.rerun()
if chosen:
    top = df[df["sample"].isin(chosen)].nlargest(36, "score")
    st.caption(f"The {len(top)} highest-scoring of the selection:")
    show_grid(datasets.images(dataset_id, top["sample"].to_numpy()), [f"#{i}" for i in top["sample"]], width=56)
