"""Steps a person takes in the browser, shared by the walkthroughs."""

import re

from playwright.sync_api import expect


def submit(page, button, lands_on, flash):
    """Press a form's ``button``: the browser lands on ``lands_on`` (a regex) showing ``flash``."""
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(re.compile(lands_on))
    expect(page.get_by_text(flash)).to_be_visible()
