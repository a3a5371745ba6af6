"""Review: look at flagged, selected or suggested samples; reject, restore or relabel them."""
import numpy as np
import streamlit as st

from core.services import datasets, experiments, review, runs
from pages.common import enlarge, heat, pick_experiment, pick_run, selected, show_grid

st.title("Review")
exp = pick_experiment()
run = pick_run(exp) if exp else None
if run is None:
    st.stop()

df = runs.results(run.id)
train = df[df.part == "train"]
threshold = run.threshold if run.threshold is not None else float(train.score.quantile(0.95))
others = runs.percentiles_by_detector(run.round_id)
df["disagreement"] = df["sample"].map(others["disagreement"]) if "disagreement" in others else 0.0
decided = df["sample"].isin(review.current_state(exp.id).index)
FILTERS = {
    "flagged (score ≥ threshold)": (df.part == "train") & (df.score >= threshold),
    "selected on the map or histogram": df["sample"].isin(selected(exp.id)),
    "suggested by the detector": df.suggested > 0,
    "undecided training samples": (df.part == "train") & ~decided,
    "decided": decided,
    "rejected": df.status == "rejected",
    "all training samples": df.part == "train",
}
c1, c2 = st.columns([3, 1])
which = c1.radio("Show", list(FILTERS), horizontal=True)
SORTS = {"score, highest first": ("score", False), "score, lowest first": ("score", True), "disagreement between detectors": ("disagreement", False)}
order = c2.selectbox("Sort by", list(SORTS), help="Disagreement: the spread of the sample's percentile ranks across this round's detectors.")
shown = df[FILTERS[which]].sort_values(SORTS[order][0], ascending=SORTS[order][1])
st.caption(f"{len(shown)} samples · {which} · threshold {threshold:.4g} (set it on **Scores**) · run {run.id}, {run.detector}")
refined = runs.refinement(df)  # None unless the detector set samples aside while fitting (ITSR)
if which == "suggested by the detector" and refined:
    steps = ", ".join(f"step {k}: {n}" for k, n in refined["per_step"].items())
    pushed = f"the {refined['negative']} it rebuilt worst were retrained with a negative weight, pushed away as anomalies" if refined["negative"] else "none was retrained with a negative weight"
    st.caption(
        f"While fitting, {run.detector} set aside {refined['set_aside']} of {refined['train']} training images ({steps}); {pushed}. "
        "Reject the true anomalies here so the next round leaves them out."
    )
if shown.empty:
    st.info("Nothing to review in this view.")
    st.stop()

per_page = 48
pages = (len(shown) - 1) // per_page + 1
page_key = f"page:{run.id}:{which}:{order}"


def turn(step: int) -> None:
    st.session_state[page_key] = min(pages, max(1, st.session_state.get(page_key, 1) + step))


if pages > 1:
    c1, c2, c3 = st.columns([4, 1, 1], vertical_alignment="bottom")
    page = c1.number_input(f"Page (of {pages})", 1, pages, key=page_key)
    c2.button("Previous", on_click=turn, args=(-1,), shortcut="PageUp", disabled=page <= 1, width="stretch")
    c3.button("Next", on_click=turn, args=(1,), shortcut="PageDown", disabled=page >= pages, width="stretch")
else:
    page = 1
view = shown.iloc[(page - 1) * per_page : page * per_page]

dataset_id = experiments.dataset_of(exp).id
images = datasets.images(dataset_id, view["sample"].to_numpy())
marks = {"rejected": "✗ ", "active": ""}
show_grid(images, [f"{marks[s]}#{i} {lab}".strip() for i, s, lab in zip(view["sample"], view["status"], view["label"])])

columns = {"sample": "sample", "class": "known class", "score": "score", "percentile": "percentile", "disagreement": "disagreement", "status": "status", "label": "label", "suggested": "set aside at step", "fit_weight": "training weight", "part": "part"}
if refined is None:
    del columns["suggested"]
if "fit_weight" not in df:
    del columns["fit_weight"]
table = view[list(columns)].rename(columns=columns)
event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row", key=f"review:{run.id}:{which}:{order}:{page}", width="stretch")
ticked = table.iloc[event.selection.rows]["sample"].tolist() if event and event.selection.rows else []


def record(targets: list[int], action: str) -> None:
    n = review.decide(exp.id, targets, action, user=st.session_state.get("user", ""), view=f"review: {which}", round_number=runs.round_of(run).number)
    st.session_state["review_done"] = f"Recorded “{action}” for {n} samples."
    st.rerun()


# One key per action on the ticked rows (Streamlit reserves C and R).
KEYS = {"reject": "X", "restore": "U", "normal": "N", "anomaly": "A"}
for col, (act, key) in zip(st.columns(len(KEYS)), KEYS.items()):
    if col.button(f"{act.capitalize()} ticked", shortcut=key, disabled=not ticked, width="stretch", key=f"quick:{act}"):
        record(ticked, act)
st.caption("Keys: **X** reject · **U** restore · **N** normal · **A** anomaly, on the ticked rows · **PageDown** / **PageUp** turn the page.")
if "review_done" in st.session_state:
    st.success(st.session_state.pop("review_done"))

with st.form("decide"):
    c1, c2 = st.columns(2)
    action = c1.radio("Decision", list(review.ACTIONS), horizontal=True, captions=["leave the training set", "come back", "label: normal", "label: anomaly"])
    scope = c2.radio("Apply to", [f"ticked rows ({len(ticked)})", f"all {len(shown)} in this view"])
    if st.form_submit_button("Apply", type="primary"):
        targets = ticked if scope.startswith("ticked") else shown["sample"].tolist()
        if not targets:
            st.warning("Tick rows in the table first, or apply to the whole view.")
        else:
            record(targets, action)

st.subheader("One sample")
focus = st.selectbox("Sample", view["sample"].tolist(), index=0 if not ticked else view["sample"].tolist().index(ticked[0]) if ticked[0] in view["sample"].tolist() else 0)
row = df[df["sample"] == focus].iloc[0]
left, right = st.columns([1, 2])
image = datasets.images(dataset_id, [focus])
recon = runs.reconstructions(run.id, [row["row"]])
tiles = [image[0]]
if recon is not None:
    diff = np.abs(image.astype(np.int16) - recon.astype(np.int16)).astype(np.uint8)
    tiles += [recon[0], heat(diff)[0]]
rgb = [t if t.shape[-1] == 3 else np.repeat(t, 3, axis=-1) for t in tiles]
left.image(list(enlarge(np.stack(rgb), 128)), caption=["input", "reconstruction", "|difference|"][: len(rgb)], width=128)
history = runs.score_history(exp.id, int(focus))
right.markdown(f"**#{focus}** · known class {row['class'] or '?'} · {row['status']}" + (f" · labelled {row['label']}" if row["label"] else ""))
right.dataframe(history, hide_index=True)

trail = review.trail(exp.id)
with st.expander(f"Audit trail and exports ({len(trail)} decisions)"):
    st.dataframe(trail.sort_values("id", ascending=False), hide_index=True)
    # Built only when clicked (deferred data), without rerunning the page.
    c, e = st.columns(3), exp.id
    for fmt in ("csv", "parquet"):
        c[0].download_button(f"Decisions ({fmt})", lambda fmt=fmt: review.table_bytes(review.trail(e), fmt), file_name=f"decisions-experiment-{e}.{fmt}", on_click="ignore")
        c[1].download_button(f"Current labels ({fmt})", lambda fmt=fmt: review.table_bytes(review.labels_table(e), fmt), file_name=f"labels-experiment-{e}.{fmt}", on_click="ignore")
    c[2].download_button("Cleaned training list (csv)", lambda: review.table_bytes(review.cleaned_file_list(e), "csv"), file_name=f"clean-train-experiment-{e}.csv", on_click="ignore")
    c[2].download_button("Cleaned training set (npz)", lambda: review.cleaned_npz(e), file_name=f"clean-train-experiment-{e}.npz", on_click="ignore")
