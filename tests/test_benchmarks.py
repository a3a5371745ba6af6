"""The README's generated tables match the results they come from."""
from benchmarks import readme


def test_readme_sections_regenerate_unchanged():
    text = readme.README.read_text()
    assert readme.render(text) == text, "README tables differ from benchmarks/results: run python -m benchmarks.readme"


def test_speed_table_lists_every_detector():
    from core.models import registry

    section = readme.speed_section()
    for name in registry.DETECTORS:
        assert f"| {name} |" in section


def test_page_speed_quick_mode_measures_both_pages_and_saves_nothing(home):
    from benchmarks import common, page_speed

    before = set(common.RESULTS.glob("*.json"))
    record = page_speed.main(["--quick"])
    assert record["points"] == 1797 and record["pages"]["latent_map"]["figure_bytes"] > 0
    for m in record["pages"].values():
        assert all(v > 0 for v in m.values())
    assert "| Scores | threshold moved | 1797 scores |" in page_speed.table(record)
    assert set(common.RESULTS.glob("*.json")) == before


def test_queue_overhead_quick_mode_loses_nothing_and_saves_nothing(home):
    from benchmarks import common, queue_overhead

    before = set(common.RESULTS.glob("*.json"))
    record = queue_overhead.main(["--quick"])
    (b,) = record["backends"].values()
    assert b["jobs"] == 20 and b["lost"] == 0 and b["run_twice"] == 0 and b["drain_s"] > 0
    assert record["train_page"]["jobs"] == 20 and record["train_page"]["page_s"] > 0
    assert "| SQLite (one machine) |" in queue_overhead.table(record)
    assert set(common.RESULTS.glob("*.json")) == before
