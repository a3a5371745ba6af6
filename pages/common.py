"""Widgets several pages share: the experiment and run pickers, image grids, heatmaps."""
from __future__ import annotations

import html

import numpy as np
import streamlit as st

from core.services import experiments, runs


def pick_experiment(where=st.sidebar):
    """Experiment selector (remembered across pages); None when there is none yet."""
    exps = experiments.list_experiments()
    if not exps:
        st.info("No experiment yet: import data on **Data**, then create one on **Experiment**.")
        return None
    ids = [e.id for e in exps]
    current = st.session_state.get("experiment_id")
    index = ids.index(current) if current in ids else len(ids) - 1
    names = {e.id: e.name for e in exps}
    chosen = where.selectbox("Experiment", ids, index=index, format_func=names.get, key="_pick_experiment")
    st.session_state["experiment_id"] = chosen
    return next(e for e in exps if e.id == chosen)


def pick_run(exp, where=st.sidebar):
    """Selector over the experiment's finished runs, newest first; None when there is none."""
    done = [r for r in runs.list_runs(exp.id) if r.status == "succeeded"]
    if not done:
        st.info("No finished run in this experiment yet: start one on **Train**.")
        return None
    numbers = {r.id: runs.round_of(r).number for r in done}
    ids = [r.id for r in done]
    current = st.session_state.get("run_id")
    index = ids.index(current) if current in ids else 0
    label = {r.id: f"round {numbers[r.id]} · {r.detector} · run {r.id}" for r in done}
    chosen = where.selectbox("Run", ids, index=index, format_func=label.get, key="_pick_run")
    st.session_state["run_id"] = chosen
    return next(r for r in done if r.id == chosen)


def selection_key(exp_id: int) -> str:
    return f"selection:{exp_id}"


def selected(exp_id: int) -> list[int]:
    """Samples selected on the latent map or the histogram in this browser session."""
    return list(st.session_state.get(selection_key(exp_id), []))


def enlarge(images: np.ndarray, target: int = 72) -> np.ndarray:
    """Nearest-neighbour upscale so small images stay crisp on screen."""
    k = max(1, target // images.shape[1])
    return images.repeat(k, axis=1).repeat(k, axis=2)


def show_grid(images: np.ndarray, captions: list[str], width: int = 72) -> None:
    """A flowing grid of images with captions."""
    if len(images) == 0:
        st.caption("nothing to show")
        return
    big = enlarge(images, width)
    st.image([im if im.shape[-1] == 3 else im[..., 0] for im in big], caption=captions, width=width)


def heat(diff: np.ndarray) -> np.ndarray:
    """|difference| (N,H,W,C uint8) → an RGB heatmap, black → red → yellow → white."""
    d = diff.astype(np.float32).mean(axis=-1) / 255.0
    d = d / max(float(d.max()), 1e-6)
    rgb = np.stack([np.clip(3 * d, 0, 1), np.clip(3 * d - 1, 0, 1), np.clip(3 * d - 2, 0, 1)], axis=-1)
    return (rgb * 255).astype(np.uint8)


def esc(text: str) -> str:
    """Escape user-supplied text (file and class names) before it goes into markdown."""
    return html.escape(str(text)).replace("*", "\\*").replace("_", "\\_").replace("`", "\\`").replace("[", "\\[")
