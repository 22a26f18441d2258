"""What ``make test`` needs besides Python packages, checked (and installed where it can
be) before any test starts: a Chromium for the browser tests (tests/e2e/browser.py),
Debian's rsyslog, the syslog streams' real receiver, and the official WorkOS Node SDK
(tests/node/, from the npm registry at the locked version).

A missing rsyslog is installed as root on Debian; where that is not possible the syslog
tests are skipped with the command to run (CI installs it and makes them required).
"""

import os
import shutil
import sys
from pathlib import Path

from tests.e2e import browser
from tests.streams.receivers.syslog import INSTALL, RSYSLOGD

RSYSLOG_PACKAGES = ["rsyslog", "rsyslog-gnutls"]
NODE_TESTS = Path(__file__).resolve().parent / "node"


def ensure_rsyslog():
    """Install rsyslog when it is missing and this is root on Debian; whether it is there."""
    if os.access(RSYSLOGD, os.X_OK):
        return True
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("No rsyslogd for the syslog stream tests; installing it.", flush=True)
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not browser.run(["apt-get", "install", "-y", *RSYSLOG_PACKAGES], environment):
            browser.run(["apt-get", "update", "-qq"], environment)
            browser.run(["apt-get", "install", "-y", *RSYSLOG_PACKAGES], environment)
    if os.access(RSYSLOGD, os.X_OK):
        return True
    print(f"The syslog stream tests will be skipped: run {INSTALL}", file=sys.stderr)
    return False


def ensure_node_sdk():
    """``npm ci`` in tests/node when its lock changed since the last install."""
    installed = NODE_TESTS / "node_modules" / ".package-lock.json"
    lock = NODE_TESTS / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return True
    if not shutil.which("npm"):
        print("The Node SDK tests will be skipped: install Node.js and npm.", file=sys.stderr)
        return False
    command = ["npm", "ci", "--prefix", str(NODE_TESTS), "--no-audit", "--no-fund"]
    return browser.run(command, os.environ)


def main():
    status = browser.main()
    ensure_rsyslog()
    ensure_node_sdk()
    return status


if __name__ == "__main__":
    sys.exit(main())
