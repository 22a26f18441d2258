"""``make test``'s first step: a Chromium for the browser tests, installed where it is
missing, or the one command to run (tests/e2e/browser.py)."""

import subprocess

import pytest

from tests.e2e import browser


@pytest.fixture
def no_chromium(monkeypatch):
    """A machine without Chromium: commands run are recorded, none succeeds."""
    commands = []
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.setattr(browser, "find_chromium", lambda: (None, False))
    monkeypatch.setattr(browser.shutil, "which", lambda name: "/usr/bin/apt-get")

    def fake_run(command, **_options):
        commands.append(command)
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(browser.subprocess, "run", fake_run)
    return commands


def test_a_chromium_found_is_used_as_it_is(capsys, monkeypatch):
    monkeypatch.setattr(browser, "find_chromium", lambda: (browser.Path("/opt/chromium"), False))
    assert browser.main() == 0
    assert "/opt/chromium" in capsys.readouterr().out


def test_without_root_it_tries_playwright_then_stops_with_the_command(
    no_chromium, monkeypatch, capsys
):
    monkeypatch.setattr(browser.os, "geteuid", lambda: 1000)
    assert browser.main() == 1
    assert [command[-3:] for command in no_chromium] == [["playwright", "install", "chromium"]]
    assert "apt-get install -y chromium" in capsys.readouterr().err


def test_as_root_it_falls_back_to_the_distribution_package(no_chromium, monkeypatch):
    monkeypatch.setattr(browser.os, "geteuid", lambda: 0)
    assert browser.main() == 1  # the fakes install nothing
    assert no_chromium[1:] == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "chromium"],
    ]


def test_a_wrong_chromium_path_is_reported(monkeypatch, capsys):
    monkeypatch.setenv("CHROMIUM_PATH", "/nowhere/chromium")
    assert browser.main() == 1
    assert "/nowhere/chromium" in capsys.readouterr().err
