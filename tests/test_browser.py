"""The whole loop in a real browser: import → experiment → train → histogram → lasso → reject → round 2."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser import app_server, browser_page, goto, no_exceptions, open_app, settle, shot
from tests.conftest import home_at, idx_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def lasso(page, left: float, right: float) -> None:
    """Draw a lasso over the horizontal band [left, right] (fractions) of the first Plotly chart."""
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    points = [(left, 0.02), (right, 0.02), (right, 0.98), (left, 0.98), (left, 0.03)]
    page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * h)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=8)
    page.mouse.up()
    settle(page)


def test_whole_loop_reaches_round_two(tmp_path):
    with app_server(tmp_path / "home") as url, browser_page() as page:
        open_app(page, url)
        shot(page, "01_data_empty")

        page.get_by_role("tab", name="Built-in sets").click()
        page.locator(".st-key-builtin_name input").fill("digits")
        page.get_by_role("button", name="Import").last.click()
        settle(page)
        page.get_by_text("Imported digits: 1797 images").wait_for()
        shot(page, "02_data_imported")
        no_exceptions(page)

        goto(page, "Experiment")
        page.get_by_role("button", name="Create experiment").click()
        settle(page)
        created = page.get_by_text(re.compile(r"Created .*training set (\d+) images \((\d+) anomalies\)")).inner_text()
        n_train = int(re.search(r"training set (\d+) images", created).group(1))
        shot(page, "03_experiment")

        goto(page, "Train")
        page.get_by_role("button", name="Train", exact=True).click()
        settle(page)
        page.get_by_text("Queued 1 job(s)").wait_for()
        # the job's caption once it has finished (Streamlit streams a page's elements as they are made)
        caption = page.get_by_text(re.compile(r"test auroc \d\.\d\d\d")).first
        caption.wait_for(timeout=240_000)
        assert re.search(r"test auroc (0\.9\d\d|1\.000)", caption.inner_text()), caption.inner_text()
        shot(page, "04_trained")

        goto(page, "Scores")
        page.locator(".js-plotly-plot").first.wait_for()
        page.get_by_text("Test AUROC").wait_for()  # the metrics come after the histogram
        assert page.get_by_text("training set (").count() >= 1 and page.get_by_text("Test AUROC").count() == 1
        shot(page, "05_scores")
        no_exceptions(page)

        goto(page, "Reconstructions")
        page.get_by_text("Each tile: input").wait_for()
        page.get_by_test_id("stImage").first.wait_for()  # the tiles come after the caption: a slow machine would shoot an empty page
        shot(page, "06_reconstructions")
        no_exceptions(page)

        goto(page, "Latent map")
        page.get_by_text("UMAP of").wait_for(timeout=240_000)
        settle(page)
        lasso(page, 0.02, 0.55)
        # the selection arrives with a rerun that a busy machine starts after settle() has returned: wait for it
        count = page.get_by_text(re.compile(r"[1-9]\d* selected ·"))
        count.wait_for(timeout=60_000)
        selected = int(re.search(r"(\d+) selected", count.inner_text()).group(1))
        assert selected < n_train
        shot(page, "07_latent_lasso")

        goto(page, "Review")
        page.get_by_text("selected on the map or histogram").click()
        # the caption names the view: until it does, the table on screen is the last view's
        page.get_by_text(f"{selected} samples · selected on the map or histogram · threshold").wait_for()
        settle(page)
        page.get_by_text(f"all {selected} in this view").click()
        page.get_by_role("button", name="Apply").click()
        settle(page)
        page.get_by_text("rejected", exact=True).first.click()
        page.get_by_text(f"{selected} samples · rejected · threshold").wait_for()
        settle(page)
        shot(page, "08_review_rejected")
        # keyboard: tick the first row, press U (restore); it leaves the rejected view
        table = page.get_by_test_id("stDataFrame").first
        table.wait_for()
        grid = table.bounding_box()
        page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 17)  # the first row's tick box, under the header
        page.get_by_role("button", name="Restore ticked").wait_for()
        expect(page.get_by_role("button", name="Restore ticked")).to_be_enabled(timeout=60_000)  # a rerun: slow on a busy machine
        page.locator("body").press("u")
        page.get_by_text("Recorded “restore” for 1 samples.").wait_for()
        selected -= 1
        page.get_by_text(f"{selected} samples · rejected · threshold").wait_for()
        no_exceptions(page)

        goto(page, "Rounds")
        page.get_by_role("button", name=f"Retrain without the {selected} rejected samples").click()
        settle(page)
        page.get_by_text(f"Round 2 queued: {n_train - selected} training samples").wait_for()
        page.get_by_test_id("stDataFrame").first.wait_for()
        shot(page, "09_rounds")
        no_exceptions(page)


def _class_zip(path) -> None:
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as z:
        for cls in ("good", "scratched"):
            for i in range(6):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(buf, "PNG")
                z.writestr(f"parts/{cls}/{i}.png", buf.getvalue())
        z.writestr("parts/good/<b>broken</b>.png", b"not an image at all")


def test_upload_imports_a_zip_listing_the_file_it_skipped_then_an_idx_pair(tmp_path):
    upload = tmp_path / "parts.zip"
    _class_zip(upload)
    with app_server(tmp_path / "home") as url, browser_page() as page:
        open_app(page, url)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
        settle(page)
        page.locator(".st-key-upload_size").wait_for()
        page.get_by_role("button", name="Import upload").click()
        settle(page)
        page.get_by_text("Imported parts: 12 images of 32×32×1, 2 classes.").wait_for()
        page.get_by_text("1 file(s) could not be read").wait_for()
        # the HTML-like file name is shown as text, never rendered as markup
        page.get_by_text("<b>broken</b>.png").wait_for()
        assert page.locator("b", has_text="broken").count() == 0
        shot(page, "10_upload")
        no_exceptions(page)
        # an idx pair under its usual names, which end "-idx3-ubyte" with no dot
        pair = _idx_pair(tmp_path / "idx")
        page.reload()
        settle(page)
        page.get_by_text("Import a dataset").first.click()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(p) for p in pair])
        settle(page)
        page.get_by_role("button", name="Import upload").click()
        settle(page)
        page.get_by_text("Imported train: 6 images of 16×16×1, 3 classes.").wait_for()
        no_exceptions(page)


def _idx_pair(folder):
    """train-images-idx3-ubyte and train-labels-idx1-ubyte with 6 images of 16×16 in classes 0–2."""
    import numpy as np

    folder.mkdir()
    images, labels = folder / "train-images-idx3-ubyte", folder / "train-labels-idx1-ubyte"
    images.write_bytes(idx_bytes(np.arange(6 * 256).reshape(6, 16, 16)))
    labels.write_bytes(idx_bytes([0, 1, 2, 0, 1, 2]))
    return images, labels


POINT_JS = """() => {
  // the map's right-most point: at the edge, so no other point sits on top of it
  const gd = document.querySelector('.js-plotly-plot');
  const t = gd._fullData[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  let i = 0;
  for (let j = 1; j < t.x.length; j++) if (t.x[j] > t.x[i]) i = j;
  const r = gd.getBoundingClientRect();
  return {x: r.left + xa._offset + xa.l2p(t.x[i]), y: r.top + ya._offset + ya.l2p(t.y[i]), id: Number(t.customdata[i])};
}"""


def test_hovering_a_point_on_the_latent_map_shows_its_image(home):
    from core.services import datasets, experiments, pipeline, runs

    datasets.import_dataset("builtin:digits", "digits")
    exp = experiments.create_experiment("digits", ["0"], [str(d) for d in range(1, 10)], 0.05, "hover")
    (run,) = runs.queue_runs(exp.id, ["iforest"], start_worker=False)
    pipeline.execute_run(run.id)  # fits in a second; UMAP included
    assert runs.get_run(run.id).embedding == "umap"
    with app_server(home) as url, browser_page() as page:
        open_app(page, url)
        goto(page, "Latent map")
        page.get_by_text("UMAP of").wait_for()
        settle(page)
        tip = page.get_by_test_id("hoverThumbnail")
        page.locator(".js-plotly-plot[data-winnow-hover=on]").wait_for(state="attached")  # listening
        point = page.evaluate(POINT_JS)
        page.mouse.move(point["x"], point["y"])
        # Plotly picks the point under the cursor (a neighbour may sit on top): the thumbnail
        # must be the image of the point its hover label names.
        label = page.locator(".hoverlayer .hovertext").first
        label.wait_for(timeout=15_000)
        hovered = int(re.search(r"#(\d+)", label.text_content()).group(1))
        image = tip.locator("img")
        expect(image).to_have_attribute("alt", f"thumbnail of #{hovered}", timeout=15_000)
        expect(tip).to_be_visible()
        expect(tip).to_contain_text(f"#{hovered} · ")
        assert image.evaluate("im => im.complete && im.naturalWidth") >= 96  # a decoded, enlarged image
        shot(page, "11_latent_hover")
        page.mouse.move(5, 5)  # off the chart: the thumbnail goes away
        expect(tip).to_be_hidden()
        no_exceptions(page)


def test_train_shows_the_hyperparameters_just_chosen_and_enter_queues_nothing(home):
    from core.models import registry
    from core.services import datasets, experiments, runs

    datasets.import_dataset("builtin:digits", "digits")
    exp = experiments.create_experiment("digits", ["0"], [str(d) for d in range(1, 10)], 0.05, "form")
    title = registry.get("aae_itsr").title
    with app_server(home) as url, browser_page(height=2000) as page:
        open_app(page, url)
        goto(page, "Train")
        box = page.get_by_text(f"{title}: hyperparameters")
        assert box.count() == 0
        pick = page.get_by_test_id("stMultiSelect").first.locator("input")
        pick.click()
        page.get_by_role("option", name=title).click()
        page.keyboard.press("Escape")
        settle(page)
        box.wait_for()  # before Train is pressed: a form would hold it back
        page.get_by_text("paper", exact=True).click()
        settle(page)
        box.click()
        hidden = page.get_by_label("hidden").last
        expect(hidden).to_have_value("1000")  # the paper preset's width, not the quick 256
        hidden.fill("64")
        hidden.press("Enter")  # confirms the number; it must not queue anything
        settle(page)
        assert runs.list_runs(exp.id) == []
        pick.click()  # a detector picked after the edit keeps the edit
        page.get_by_role("option", name=registry.get("iforest").title, exact=True).click()
        page.keyboard.press("Escape")
        settle(page)
        expect(hidden).to_have_value("64")
        page.get_by_role("button", name="Train", exact=True).click()
        settle(page)
        page.get_by_text("Queued 3 job(s)").wait_for()
        shot(page, "12_train_form")
        no_exceptions(page)
        # the same on Rounds: Enter in the weight box confirms the number, it starts no round
        goto(page, "Rounds")
        weight = page.get_by_label("Negative weight")
        weight.fill("-0.2")
        weight.press("Enter")
        settle(page)
        assert experiments.latest_round(exp.id).number == 1
        no_exceptions(page)
    queued = runs.list_runs(exp.id)
    assert sorted(r.detector for r in queued) == ["aae_itsr", "autoencoder", "iforest"]
    itsr = next(r for r in queued if r.detector == "aae_itsr")
    assert itsr.preset == "paper" and itsr.params["hidden"] == 64


def test_experiment_name_follows_the_settings_and_enter_creates_nothing(home):
    from core.services import datasets, experiments

    datasets.import_dataset("builtin:digits", "digits")
    with app_server(home) as url, browser_page() as page:
        open_app(page, url)
        goto(page, "Experiment")
        name = page.get_by_label("Experiment name")
        expect(name).to_have_attribute("placeholder", "digits: 0 normal, 5% contaminated")
        p = page.get_by_label("Contamination p")
        p.fill("0.1")
        p.press("Enter")  # confirms the number; it must not create an experiment half set up
        settle(page)
        # before any button; one box, not the old one beside a new one (the box had no key, so a new
        # placeholder made a new widget); a rerun: slow on a busy machine
        expect(name).to_have_attribute("placeholder", "digits: 0 normal, 10% contaminated", timeout=60_000)
        assert experiments.list_experiments() == []  # checked once the Enter's rerun has drawn the page
        page.get_by_role("button", name="Create experiment").click()
        page.get_by_text("Created digits: 0 normal, 10% contaminated").wait_for()
        shot(page, "13_experiment_name")
        no_exceptions(page)
    (exp,) = experiments.list_experiments()
    assert exp.name == "digits: 0 normal, 10% contaminated" and exp.contamination == 0.1


def test_an_upload_above_the_size_limit_is_refused_naming_the_limit(tmp_path):
    big = tmp_path / "big.zip"
    big.write_bytes(b"PK" + bytes(2 * 1024 * 1024))  # 2 MB against a 1 MB limit
    with app_server(tmp_path / "home", "--server.maxUploadSize", "1") as url, browser_page() as page:
        open_app(page, url)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(big))
        # Streamlit's own refusal, beside the file (and as an alert for screen readers)
        page.get_by_text(re.compile(r"must be 1(\.0)?\s?MB or smaller", re.I)).first.wait_for(state="attached")
        page.wait_for_timeout(500)
        shot(page, "12_upload_too_big")
        page.get_by_text("up to 1 MB each").wait_for()  # the limit is named before anyone uploads
        page.get_by_role("button", name="Import upload").click()  # and pressing on anyway says why
        page.get_by_text("No file to import: choose one above (files over the 1 MB upload limit are refused").wait_for()
        no_exceptions(page)
    from core.services import datasets

    with home_at(tmp_path / "home"):  # the app's store, not this process's
        assert datasets.list_datasets() == []
