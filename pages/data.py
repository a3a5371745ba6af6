"""Data: import image sets and look at them."""
import pandas as pd
import streamlit as st

from core.services import datasets
from pages.common import esc, show_grid

st.title("Data")
st.caption("Import a set of images. Classes come from folder names (zip or folder), labels (`.npz` `y`, idx files), or the built-in sets.")

SIZES = {"automatic": None, "16 px": 16, "32 px": 32, "64 px": 64, "128 px": 128}


def _import(load) -> None:
    """Run `load(progress)` and show the dataset it imported, or what was wrong (bad input, or a full disk)."""
    bar = st.progress(0.0, text="reading…")
    try:
        ds = load(lambda f, msg="": bar.progress(min(max(float(f), 0.0), 1.0), text=msg or "reading…"))
    except (ValueError, OSError) as e:
        st.error(esc(e))
        return
    finally:
        bar.empty()  # done either way: the result or the error says what happened
    _imported(ds)


def _imported(ds) -> None:
    st.session_state["dataset_id"] = ds.id
    st.success(f"Imported **{esc(ds.name)}**: {ds.n} images of {ds.size}×{ds.size}×{ds.channels}, {len(ds.classes) or 'no'} classes.")
    if not ds.classes:
        st.info(
            "No labels: every image is a training candidate and no detection metric can be measured. "
            "To give the images classes, import a .zip (or folder) with one subfolder per class."
        )
    if ds.skipped:
        listed = "\n".join(f"- {esc(name)}: {esc(reason)}" for name, reason in ds.skipped[:10])
        more = f"\n\n…and {len(ds.skipped) - 10} more, listed below the preview." if len(ds.skipped) > 10 else ""
        st.warning(f"{len(ds.skipped)} file(s) could not be read and were skipped:\n{listed}{more}")


# On an empty store importing is the only thing to do, so the form is shown outright, not in an
# expander that opens itself: those animate their height as their contents arrive, and on a busy
# browser Streamlit 1.67 has left one open at its header's height, showing nothing.
first_import = not datasets.list_datasets()
with st.container(border=True) if first_import else st.expander("Import a dataset"):
    if first_import:
        st.markdown("**Import a dataset**")
    upload_tab, path_tab, builtin_tab = st.tabs(["Upload", "Folder or file on the server", "Built-in sets"])
    with upload_tab:
        limit = st.get_option("server.maxUploadSize")  # MB; above it the browser refuses the file
        files = st.file_uploader(
            f"A zip of class folders (or a flat folder), an .npz with x and y, or an idx images + labels pair — up to {limit} MB each",
            accept_multiple_files=True,
            # No `type=` filter: Streamlit's would refuse idx files, whose names end "-idx3-ubyte"
            # with no dot; the importer names any file it cannot read.
            help="Larger sets: put them on the server and use the next tab.",
        )
        with st.form("upload_form"):
            name = st.text_input("Dataset name", value=datasets.suggest_name([f.name for f in files or []]))
            size = SIZES[st.selectbox("Image size", list(SIZES), key="upload_size")]
            if st.form_submit_button("Import upload", type="primary"):
                if not files:
                    st.error(f"No file to import: choose one above (files over the {limit} MB upload limit are refused; import those from a folder on the server).")
                else:
                    _import(lambda progress: datasets.import_uploads([(f.name, f.getvalue()) for f in files], name, size=size, progress=progress))
    with path_tab, st.form("path_form"):
        path = st.text_input("Path on this machine", placeholder="/data/inspection/crops or /data/set.npz")
        name = st.text_input("Dataset name", key="path_name")
        size = SIZES[st.selectbox("Image size", list(SIZES), key="path_size")]
        if st.form_submit_button("Import", type="primary"):
            _import(lambda progress: datasets.import_dataset(path.strip(), name, size=size, progress=progress))
    with builtin_tab, st.form("builtin_form"):
        source = st.selectbox("Set", ["builtin:digits", "torchvision:MNIST", "torchvision:FashionMNIST", "torchvision:CIFAR10"])
        root = st.text_input("Folder with torchvision's files (MNIST/raw/…)", help="Not needed for builtin:digits.")
        download = st.checkbox("Download if missing (needs internet)")
        name = st.text_input("Dataset name", key="builtin_name")
        if st.form_submit_button("Import", type="primary"):
            _import(lambda progress: datasets.import_dataset(source, name or source.split(":")[1], root=root or None, allow_download=download, progress=progress))

all_sets = datasets.list_datasets()
if not all_sets:
    st.info("No dataset yet.")
    st.stop()

st.subheader("Datasets")
st.dataframe(
    pd.DataFrame(
        [
            {"name": d.name, "images": d.n, "size": f"{d.size}×{d.size}×{d.channels}", "classes": ", ".join(d.classes) or "unlabelled", "skipped files": len(d.skipped), "source": d.source}
            for d in all_sets
        ]
    ),
    hide_index=True,
)

ids = [d.id for d in all_sets]
current = st.session_state.get("dataset_id")
chosen = st.selectbox("Preview", ids, index=ids.index(current) if current in ids else len(ids) - 1, format_func={d.id: d.name for d in all_sets}.get)
ds = next(d for d in all_sets if d.id == chosen)
for cls, imgs in datasets.preview(ds, per_class=10).items():
    count = ds.class_counts[ds.classes.index(cls)] if ds.classes else ds.n
    st.markdown(f"**{esc(cls)}** · {count} images")
    show_grid(imgs, [""] * len(imgs), width=56)
if ds.skipped:
    with st.expander(f"{len(ds.skipped)} skipped file(s)"):
        st.dataframe(pd.DataFrame(ds.skipped, columns=["file", "reason"]), hide_index=True)
