"""The detector registry: one list, names that match, and pages that list data without importing torch."""
import subprocess
import sys

import pytest

from core.models import registry
from tests.conftest import ROOT


def test_every_entry_names_its_class():
    for name, cls in registry.classes().items():
        assert cls.name == name


def test_unknown_detector_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown detector 'nope'; known: autoencoder, ganomaly"):
        registry.get("nope")


def test_services_behind_the_listing_pages_do_not_import_torch():
    # The Data, Experiment and Scores pages must open quickly on a cold machine: torch is for the worker.
    code = (
        "import sys\n"
        "import core.services.datasets, core.services.experiments, core.services.runs, core.services.rounds, core.services.system\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
