"""report.html in a real browser (Debian's headless Chromium through Selenium): it renders
offline from file:// with no console error and no network request, every picture has a size,
and the plain-words paragraph a reader sees holds the run's numbers.

``make test`` installs chromium and chromium-driver with apt-get when they are missing; CI
sets MIA_REQUIRE_BROWSER=1, so there a missing browser fails instead of skipping.
MIA_UPDATE_SCREENSHOT=1 also writes the README's docs/report.png from this test's screenshot.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from mia_core.cli.mia_run import run
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SCREENSHOT = ROOT / "docs" / "report.png"
MAX_SCREENSHOT_BYTES = 200_000


def _browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("MIA_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required here (MIA_REQUIRE_BROWSER): "
                        "apt-get install chromium chromium-driver")
        pytest.skip("chromium / chromedriver not installed (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1100,1600", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "run"
    result = CliRunner().invoke(run, ["--dataset", "blobs", "--target", "cnn", "-o",
                                      "target.epochs=3", "--members", "300", "--attack",
                                      "loss-threshold", "--attack", "lira",
                                      "--reference-models", "2", "--no-cache", "-q",
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    driver = _browser()
    try:
        driver.get((out / "report.html").as_uri())
        yield driver, out
    finally:
        driver.quit()


def test_no_console_errors_and_no_network_requests(opened):
    driver, _ = opened
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    assert requests, "the performance log saw no request at all (not even the page)"
    assert all(url.startswith(("file://", "data:")) for url in requests), requests


def test_every_image_is_rendered_with_a_size(opened):
    driver, _ = opened
    sizes = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
        "i.getBoundingClientRect().width, i.getBoundingClientRect().height]);")
    assert len(sizes) >= 2 + 16
    for complete, natural, width, height in sizes:
        assert complete and natural > 0 and width > 0 and height > 0


def test_the_reader_sees_the_runs_numbers(opened, tmp_path):
    driver, out = opened
    results = json.loads((out / "results.json").read_text())
    lead = driver.find_element("id", "headline").text
    attacks = results["attacks"]
    best = max(attacks, key=lambda a: (a["metrics"]["tpr_at_01pct_fpr"],
                                       a["metrics"]["tpr_at_1pct_fpr"], a["metrics"]["auc"]))
    assert f"The strongest attack, {best['name']}, finds" in lead
    # 150 non-members: 0.1 % FPR is not resolvable, so the reader is shown the 1 % figure
    assert f"{best['metrics']['tpr_at_1pct_fpr']:.1%} of the members at a 1 %" in lead
    assert "0.1 % is not resolvable with 150 non-members" in lead
    assert f"{results['target_test_accuracy']:.1%} of non-members" in lead
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("MIA_UPDATE_SCREENSHOT"):
        _keep_small(shot)


def _keep_small(shot):
    """The README's picture: this screenshot, in 64 colours, under 200 kB."""
    from PIL import Image

    with Image.open(shot) as image:
        small = image.convert("RGB").quantize(colors=64)
        small.save(SCREENSHOT, optimize=True)
    assert SCREENSHOT.stat().st_size <= MAX_SCREENSHOT_BYTES
