"""Finding (and, where it is missing, installing) the Chromium the browser tests drive.

``python -m tests.e2e.browser`` is what ``make test`` runs first. In order: the browser
``CHROMIUM_PATH`` names, a ``chromium`` on the PATH (Debian's package), Playwright's own
download; if none is there, it tries ``playwright install chromium``, then, as root on
Debian, ``apt-get install chromium``; and if that fails too it stops with the one
command to run, before any test starts.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_SECONDS = 600
THE_COMMAND = "sudo apt-get install -y chromium   (or set CHROMIUM_PATH to a Chromium)"


def playwright_chromium():
    """The path of Playwright's own Chromium, if it has been downloaded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = Path(playwright.chromium.executable_path)
    return path if path.exists() else None


def find_chromium():
    """``(path, managed)``: the Chromium to launch (``managed``: Playwright's own, which
    it launches without a path); ``(None, False)`` if there is none."""
    named = os.environ.get("CHROMIUM_PATH")
    if named:
        return (Path(named), False) if Path(named).exists() else (None, False)
    on_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if on_path:
        return Path(on_path), False
    if Path("/usr/bin/chromium").exists():
        return Path("/usr/bin/chromium"), False
    managed = playwright_chromium()
    return (managed, True) if managed else (None, False)


def run(command, env=None):
    """Run an install command, its output shown; whether it succeeded."""
    print("$", " ".join(command), flush=True)
    try:
        completed = subprocess.run(command, env=env, timeout=INSTALL_SECONDS, check=False)
        return completed.returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"  failed: {error}", flush=True)
        return False


def install():
    """Try Playwright's download, then Debian's package (as root): whether one worked."""
    if run([sys.executable, "-m", "playwright", "install", "chromium"]) and find_chromium()[0]:
        return True
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], environment)  # a stale list may still install
        run(["apt-get", "install", "-y", "chromium"], environment)
        return find_chromium()[0] is not None
    return False


def main():
    """Exit 0 with a Chromium in place, else 1 with the command that puts one there."""
    path, _managed = find_chromium()
    if path is None and os.environ.get("CHROMIUM_PATH"):
        print(f"CHROMIUM_PATH={os.environ['CHROMIUM_PATH']} does not exist.", file=sys.stderr)
        return 1
    if path is None:
        print("No Chromium for the browser tests; installing one.", flush=True)
        if not install():
            print(f"No Chromium could be installed. Run:\n\n    {THE_COMMAND}\n", file=sys.stderr)
            return 1
        path, _managed = find_chromium()
    print(f"Browser tests use {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
