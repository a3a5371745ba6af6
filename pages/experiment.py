"""Experiment: which classes are normal, how contaminated the training set is, the test share."""
import pandas as pd
import streamlit as st

from core.services import datasets, experiments
from pages.common import esc

st.title("Experiment")
st.caption(
    "An experiment is a reproducible split of a dataset: a training set of the normal classes contaminated "
    "with a fraction p of anomalies, and a held-out test set."
)

all_sets = datasets.list_datasets()
if not all_sets:
    st.info("Import a dataset on **Data** first.")
    st.stop()

ids = [d.id for d in all_sets]
current = st.session_state.get("dataset_id")
ds_id = st.selectbox("Dataset", ids, index=ids.index(current) if current in ids else len(ids) - 1, format_func={d.id: d.name for d in all_sets}.get)
ds = next(d for d in all_sets if d.id == ds_id)

# No form: the suggested name follows the classes and p as they are picked, and Enter in a number
# box cannot create an experiment the user has not finished setting up.
with st.container(border=True):
    if ds.classes:
        normal = st.multiselect("Normal classes", ds.classes, default=ds.classes[:1])
        anomaly = st.multiselect("Anomaly classes (contaminate the training set and appear in the test set)", ds.classes, default=ds.classes[1:])
        p = st.number_input("Contamination p: fraction of the training set that is anomalous", 0.0, 0.95, 0.05, 0.01, format="%.3f")
    else:
        st.info("This dataset is unlabelled: every image is a candidate and its contamination is unknown.")
        normal, anomaly, p = [], [], 0.0
    c1, c2 = st.columns(2)
    test_share = c1.number_input("Test share (held out from every class)", 0.05, 0.9, 0.3, 0.05)
    seed = c2.number_input("Seed", 0, 2**31 - 1, 0)
    default_name = f"{ds.name}: {','.join(normal) or 'all'} normal, {p:.0%} contaminated"
    # keyed: unkeyed, the box is a new widget whenever its placeholder changes, which wiped a typed
    # name as soon as the classes or p were changed
    name = st.text_input("Experiment name", placeholder=default_name, key="experiment_name")
    if st.button("Create experiment", type="primary"):
        try:
            exp = experiments.create_experiment(ds.id, normal, anomaly, p, name or default_name, test_share, int(seed))
            st.session_state["experiment_id"] = exp.id
            st.success(
                f"Created **{exp.name}**: training set {exp.n_train} images ({exp.n_train_anomalies} anomalies), "
                f"test set {exp.n_test}. Next: **Train**."
            )
        except ValueError as e:
            st.error(esc(e))

exps = experiments.list_experiments()
if exps:
    st.subheader("Experiments")
    names = {d.id: d.name for d in all_sets}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "name": e.name,
                    "dataset": names.get(e.dataset_id),
                    "normal": ", ".join(e.normal_classes) or "all",
                    "anomaly": ", ".join(e.anomaly_classes) or "unknown",
                    "p": e.contamination,
                    "train": e.n_train,
                    "anomalies in train": e.n_train_anomalies,
                    "test": e.n_test,
                    "seed": e.seed,
                    "rounds": len(experiments.rounds(e.id)),
                }
                for e in exps
            ]
        ),
        hide_index=True,
    )
