"""What ``make test`` needs besides Python packages, checked (and installed where it can
be) before any test starts: a Chromium for the browser tests (tests/e2e/browser.py), and
Debian's rsyslog, the syslog streams' real receiver.

A missing rsyslog is installed as root on Debian; where that is not possible the syslog
tests are skipped with the command to run (CI installs it and makes them required).
"""

import os
import shutil
import sys

from tests.e2e import browser
from tests.streams.receivers.syslog import INSTALL, RSYSLOGD

RSYSLOG_PACKAGES = ["rsyslog", "rsyslog-gnutls"]


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


def main():
    status = browser.main()
    ensure_rsyslog()
    return status


if __name__ == "__main__":
    sys.exit(main())
