"""Who may use the app: an optional password shared by a team (`WINNOW_PASSWORD`).

Unset (the default), the app serves whoever reaches it, which is only this machine while it
listens on localhost. On a team server, set it: every browser session signs in once.
"""
from __future__ import annotations

import hmac
import os
import time


def required() -> bool:
    """Whether a password is set."""
    return bool(os.environ.get("WINNOW_PASSWORD", ""))


def check(password: str) -> bool:
    """Whether `password` is the team's; a wrong one costs a second, to slow guessing."""
    ok = hmac.compare_digest(password.encode(), os.environ.get("WINNOW_PASSWORD", "").encode())
    if not ok:
        time.sleep(1.0)
    return ok
