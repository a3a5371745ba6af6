"""Train: queue detectors on the experiment's latest round, and follow the jobs live."""
import plotly.express as px
import streamlit as st

from core.services import experiments, runs, system
from pages.common import esc, pick_experiment

st.title("Train")
exp = pick_experiment()
if exp is None:
    st.stop()
rnd = experiments.latest_round(exp.id)
st.caption(f"**{exp.name}** · round {rnd.number}: {rnd.n_train} training images. Jobs run in the background worker; leaving this page does not stop them.")

catalog = {d["name"]: d for d in runs.detectors()}
single = [d["name"] for d in catalog.values() if d["one_normal_class"]]
if len(exp.normal_classes) > 1 and single:
    st.info(
        f"This experiment has {len(exp.normal_classes)} normal classes. "
        + ", ".join(f"**{catalog[n]['title']}** (`{n}`)" for n in single)  # the titles the picker shows
        + " models the normal images as one cluster (one bell curve in a 2-D code): with nine normal classes, in the "
        "README's leave-one-out benchmark, it ranked anomalies near chance. Prefer the others here."
    )
# Detectors and preset stay outside the form: the hyperparameter boxes below follow them at once
# (a form would hold them back until Train is pressed, showing the boxes of the old choice).
chosen = st.multiselect("Detectors", list(catalog), default=list(catalog)[:1], format_func=lambda n: catalog[n]["title"])
preset = st.radio(
    "Preset",
    ["quick", "paper"],
    horizontal=True,
    captions=["sized for a 2-core CPU: the digits demo trains in well under a minute", "the paper's settings: use a GPU"],
)
with st.form("train_form", enter_to_submit=False):  # Enter in a box must not queue jobs
    epochs = st.number_input("Epochs (0 = the preset's)", 0, 10000, 0)
    overrides: dict[str, dict] = {}
    for name in chosen:
        d = catalog[name]
        with st.expander(f"{d['title']}: hyperparameters"):
            st.caption(d["summary"])
            values = {}
            for p in d["params"]:
                default = d["presets"].get(preset, {}).get(p["name"], p["default"])
                key = f"hp:{name}:{preset}:{p['name']}"
                if p["kind"] == "choice":
                    values[p["name"]] = st.selectbox(p["name"], p["choices"], index=list(p["choices"]).index(default), help=p["help"], key=key)
                elif p["kind"] == "bool":
                    values[p["name"]] = st.checkbox(p["name"], value=bool(default), help=p["help"], key=key)
                elif p["kind"] == "int":
                    values[p["name"]] = st.number_input(p["name"], int(p["low"]), int(p["high"]), int(default), help=p["help"], key=key)
                else:
                    values[p["name"]] = st.number_input(p["name"], float(p["low"]), float(p["high"]), float(default), help=p["help"], key=key, format="%g")
            overrides[name] = values
    if st.form_submit_button("Train", type="primary"):
        try:
            queued = runs.queue_runs(exp.id, chosen, preset, runs.with_epochs(chosen, epochs, overrides))
            st.success(f"Queued {len(queued)} job(s): " + ", ".join(f"{r.detector} (run {r.id})" for r in queued))
        except ValueError as e:
            st.error(esc(e))


PHASES = {"training": "training", "scoring": "scoring every sample", "embedding": "computing the latent map"}


@st.fragment(run_every=1.0)
def jobs() -> None:
    st.subheader("Jobs")
    st.caption(f"Worker: {system.worker_summary()}")
    all_runs = runs.list_runs(exp.id)
    if not all_runs:
        st.caption("No job yet.")
        return
    numbers = runs.round_numbers(all_runs)
    for r in all_runs[:20]:
        with st.container(border=True):
            head, action = st.columns([5, 1])
            icon = {"queued": ":material/schedule:", "running": ":material/directions_run:", "succeeded": ":material/check_circle:", "failed": ":material/error:", "cancelled": ":material/block:"}[r.status]
            head.markdown(f"{icon} **{r.detector}** · run {r.id} · round {numbers[r.id]} · {r.preset} · **{r.status}**" + (f" · {PHASES.get(r.phase, r.phase)}" if r.phase else "")
                + (f" · resumed from its checkpoint after its worker stopped ({r.resumes}×)" if r.resumes else ""))
            p = r.progress or {}
            if r.status == "running" and p:
                done = ((p["epoch"] - 1) * p["steps"] + p["step"]) / max(1, p["epochs"] * p["steps"])
                losses = "  ".join(f"{k} {v:.4g}" for k, v in p.get("losses", {}).items())
                beat = f" · {r.worker}, last heartbeat {runs.heartbeat_age(r):.0f} s ago" if r.heartbeat else ""
                st.progress(min(done, 1.0), text=f"epoch {p['epoch']}/{p['epochs']} · {losses} · {p.get('images_per_s', 0):.0f} img/s · ETA {p.get('eta_s', 0):.0f} s{beat}")
            if r.status in ("queued", "running") and not r.cancel_requested:
                if action.button("Cancel", key=f"cancel:{r.id}"):
                    runs.cancel(r.id)
                    st.rerun(scope="fragment")
            elif r.cancel_requested and r.status == "running":
                action.caption("stopping…")
            if r.status == "succeeded":
                m = r.metrics
                shown = [f"{k.replace('_', ' ')} {m[k]:.3f}" for k in ("test_auroc", "test_ap", "train_auroc") if k in m]
                st.caption(" · ".join(shown + [f"{m.get('n_train', 0)} trained, {m.get('n_test', 0)} tested"]) + ". See **Scores**.")
            if r.status == "failed":
                st.error(r.error)
    details(all_runs, numbers)


def details(all_runs, numbers) -> None:
    """One job's loss curve and log tail: the first running job unless another is picked."""
    st.subheader("Log and loss curve")
    ids = [r.id for r in all_runs]
    running = [r.id for r in all_runs if r.status == "running"]
    label = {r.id: f"run {r.id} · {r.detector} · round {numbers[r.id]} · {r.status}" for r in all_runs}
    chosen = st.selectbox("Job", ids, index=ids.index(running[0]) if running else 0, format_func=label.get, key=f"job:{exp.id}:{running[:1]}")
    curve = runs.loss_curve(chosen)
    if len(curve) > 1 and curve.shape[1] > 1:
        fig = px.line(curve, x="epoch", y=[c for c in curve.columns if c != "epoch"], labels={"value": "loss", "variable": ""}, height=260)
        fig.update_layout(margin=dict(t=10, b=10))
        st.plotly_chart(fig, width="stretch", key=f"curve:{chosen}")
    else:
        st.caption("No loss curve (yet): it fills in as the job trains. Pixel baselines fit in one go and have none.")
    st.code("\n".join(runs.log_tail(chosen, 12)) or "(no log yet)", language=None)


jobs()
