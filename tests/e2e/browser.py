"""Headless Chromium for the console tests: the system browser, driven by Selenium.

Browser downloads are not used (they need the internet): the test command installs Debian's
`chromium` and `chromium-driver` where it can (scripts/dev.py) and names the install line
where it cannot. CHROMIUM and CHROMEDRIVER point at other binaries.
"""

from __future__ import annotations

import os
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

INSTALL = "sudo apt-get install -y chromium chromium-driver"


def binaries() -> tuple[str, str] | None:
    """The Chromium and chromedriver to use, or None when either is missing."""
    browser = os.environ.get("CHROMIUM") or next(
        (found for name in ("chromium", "chromium-browser", "google-chrome")
         if (found := shutil.which(name))), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def chrome() -> webdriver.Chrome:
    """A headless system Chromium; fails the test with the install line when there is none."""
    found = binaries()
    if found is None:
        pytest.fail(f"the console tests need Chromium and chromedriver: {INSTALL} "
                    "(or set CHROMIUM and CHROMEDRIVER)", pytrace=False)
    options = Options()
    options.binary_location = found[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(found[1]), options=options)
