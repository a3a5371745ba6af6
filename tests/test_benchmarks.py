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
