"""Reconstructions: input, reconstruction and where they differ."""
import numpy as np
import streamlit as st

from core.services import datasets, experiments, runs
from pages.common import enlarge, heat, pick_experiment, pick_run, selected

st.title("Reconstructions")
exp = pick_experiment()
run = pick_run(exp) if exp else None
if run is None:
    st.stop()

df = runs.results(run.id)
which = st.radio("Show", ["highest scores", "lowest scores", "selected on the map or histogram"], horizontal=True)
PARTS = {"training set": ["train"], "test set": ["test"], "both": ["train", "test"]}
part = st.radio("From", list(PARTS), horizontal=True)
n = st.slider("How many", 1, 48, 12)
pool = df[df.part.isin(PARTS[part])]
if which == "highest scores":
    rows = pool.nlargest(n, "score")
elif which == "lowest scores":
    rows = pool.nsmallest(n, "score")
else:
    rows = pool[pool["sample"].isin(selected(exp.id))].nlargest(n, "score")
    if rows.empty:
        st.info("Nothing selected: draw a lasso or box on the **Latent map**, or a box on the **Scores** histogram, first.")
        st.stop()

recon = runs.reconstructions(run.id, rows["row"].to_numpy())
if rows.empty:
    st.info("No sample in this view.")
    st.stop()
if recon is None:
    st.info(f"{run.detector} does not reconstruct images; its scores come from elsewhere.")
    st.stop()
inputs = datasets.images(experiments.dataset_of(exp).id, rows["sample"].to_numpy())
diff = np.abs(inputs.astype(np.int16) - recon.astype(np.int16)).astype(np.uint8)


def rgb(x: np.ndarray) -> np.ndarray:
    return x if x.shape[-1] == 3 else np.repeat(x, 3, axis=-1)


triples = np.concatenate([rgb(inputs), np.full((len(rows), inputs.shape[1], 2, 3), 255, np.uint8), rgb(recon), np.full((len(rows), inputs.shape[1], 2, 3), 255, np.uint8), heat(diff)], axis=2)
st.caption("Each tile: input │ reconstruction │ |difference| (bright = large).")
captions = [f"#{s} · {c or '?'} · score {v:.4g}" for s, c, v in zip(rows["sample"], rows["class"], rows["score"])]
st.image(list(enlarge(triples, 96)), caption=captions, width=300)
