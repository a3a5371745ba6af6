"""Start Streamlit on app.py with app.py's st.navigation in charge from the very first request.

Streamlit treats a `pages/` folder beside the entry script as an old-style multipage app
until `st.navigation` has run once in the process, so a first request for /scores would
run pages/scores.py without app.py (no worker check, no layout). Our pages/ folder is
only the navigation's page files, so we say so before the server starts.
"""
import sys
import threading
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

PagesManager.uses_pages_directory = False
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _warm_imports() -> None:
    """Import the detectors (torch, scikit-learn) while the server idles, not in a user's first Train visit."""
    from core.models import registry

    registry.classes()  # imports only, no CUDA call (workers are separate processes anyway)


threading.Thread(target=_warm_imports, name="warm-imports", daemon=True).start()
sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parents[1] / "app.py"), *sys.argv[1:]]
sys.exit(cli.main())
