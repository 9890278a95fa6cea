"""The dashboard in a real browser: Streamlit server subprocess + headless Debian Chromium.

Run with ``python -m pytest -m browser``; it drives the tiny test case. Set
``UPDATE_SCREENSHOTS=1`` to drive fleet_data/default instead and refresh the images in
docs/screenshots/ (otherwise they go to tmp_path). A missing /usr/bin/chromium is a failure,
not a skip: CI installs it (.ci/run).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_app import DEFAULT_CASE, REPO_ROOT, TEST_TIME_LIMIT_S, write_tiny_case

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 120
UI_TIMEOUT_MS = 120_000  # far above any wait on the page: solves are capped at TEST_TIME_LIMIT_S


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen) -> None:
    """Poll the server's health endpoint until it answers (at most START_TIMEOUT_S)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"streamlit did not answer at {url} within {START_TIMEOUT_S} s")


def updating_screenshots() -> bool:
    return os.environ.get("UPDATE_SCREENSHOTS") == "1"


def screenshot_case() -> bool:
    """Return whether to drive fleet_data/default: only for screenshots (a few seconds a
    solve); otherwise the tiny case (the test is about the UI in a browser)."""
    return updating_screenshots() and (DEFAULT_CASE / "settings.yaml").is_file()


HAS_DEFAULT = (DEFAULT_CASE / "settings.yaml").is_file()


def start_server(tmp_path: Path, default_case: bool) -> Iterator[str]:
    """Start ``streamlit run app/dashboard.py`` on a free port; kill it afterwards.

    Only the port is given on the command line: the address (127.0.0.1), headless mode and
    usage statistics come from .streamlit/config.toml, as for a user.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    if default_case:
        env.pop("FLEET_PLANNER_CASE", None)
        env["FLEET_PLANNER_TIME_LIMIT"] = TEST_TIME_LIMIT_S
    else:
        env["FLEET_PLANNER_CASE"] = str(write_tiny_case(tmp_path / "tiny"))
    port = free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app/dashboard.py",
            "--server.port",
            str(port),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The dashboard on the tiny case (fleet_data/default when refreshing screenshots)."""
    yield from start_server(tmp_path, screenshot_case())


@pytest.fixture
def default_server(tmp_path: Path) -> Iterator[str]:
    """The dashboard on fleet_data/default."""
    yield from start_server(tmp_path, True)


def shot_dir(tmp_path: Path) -> Path:
    if updating_screenshots():
        folder = REPO_ROOT / "docs" / "screenshots"
    else:
        folder = tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


VIEWPORT = {"width": 1500, "height": 1000}
_CONTENT_HEIGHT = """() => Math.max(window.innerHeight, ...Array.from(
    document.querySelectorAll('[data-testid="stMainBlockContainer"]'), e => e.scrollHeight))"""


def screenshot(page, path: Path) -> None:
    """Capture the whole page: Streamlit scrolls inside the app, so grow the window first."""
    height = min(int(page.evaluate(_CONTENT_HEIGHT)) + 80, 4000)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.wait_for_timeout(600)  # charts re-layout to the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)


def tco_text(page) -> str:
    """Return the TCO metric as shown, e.g. '$1.23M'."""
    metric = page.get_by_test_id("stMetric").filter(has_text="TCO").first
    return metric.get_by_test_id("stMetricValue").inner_text()


@pytest.mark.browser
def test_dashboard_in_chromium(server: str, tmp_path: Path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)"
    from playwright.sync_api import expect, sync_playwright

    shots = shot_dir(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            timeout = UI_TIMEOUT_MS * (3 if screenshot_case() else 1)  # solves take longer
            page.set_default_timeout(timeout)
            expect.set_options(timeout=timeout)
            page.goto(server)
            # Opening the page plans nothing: it says to press Solve.
            expect(page.get_by_text("Opening the page plans nothing").first).to_be_visible()
            expect(page.get_by_test_id("stMetric")).to_have_count(0)
            page.get_by_role("button", name=re.compile("Solve")).click()
            verdict = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Verified")
            expect(verdict.first).to_be_visible()
            expect(verdict.first).to_contain_text(re.compile(r"(optimal|feasible).*gap"))
            expect(verdict.first).to_contain_text("first plan in")
            badge = (
                page.get_by_role("paragraph")
                .filter(has=page.get_by_role("img"))
                .filter(has_text=re.compile(r"optimal \(gap|feasible, gap"))
            )
            expect(badge.first).to_be_visible()  # the status badge under the TCO metric
            before = tco_text(page)
            screenshot(page, shots / "whatif.png")

            # Change a control (the first bucket's demand multiplier), then Solve.
            growth = page.get_by_test_id("stNumberInput").filter(has_text="Bucket").first
            field = growth.locator("input")
            field.fill("0.50")  # less demand stays feasible on any case
            field.press("Enter")
            expect(page.get_by_text("press Solve", exact=False).first).to_be_visible()
            page.get_by_role("button", name=re.compile("Solve")).click()
            expect(page.get_by_text("press Solve", exact=False)).to_have_count(0)
            expect(verdict.first).not_to_contain_text("no changes")
            expect(page.get_by_test_id("stMetricDelta").first).to_contain_text("vs base")
            after = tco_text(page)
            assert after != before, f"TCO did not change: {before} -> {after}"

            # The plan's charts render as Vega embeds.
            page.get_by_role("tab", name="Plan").click()
            expect(page.locator(".vega-embed:visible").first).to_be_visible()
            expect(
                page.locator(".vega-embed canvas:visible, .vega-embed svg:visible").first
            ).to_be_visible()
            screenshot(page, shots / "plan.png")

            # Save the scenario and compare it with the base plan.
            page.get_by_role("button", name=re.compile("Save for comparison")).click()
            page.get_by_role("tab", name="Compare").click()
            expect(page.get_by_text("Totals").first).to_be_visible()
            expect(page.locator(".vega-embed:visible").last).to_be_visible()
            screenshot(page, shots / "compare.png")

            page.get_by_role("tab", name="Insight").click()
            screenshot(page, shots / "insight.png")
        finally:
            browser.close()
    for name in ("whatif", "plan", "compare", "insight"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def first_plan_seen(page) -> None:
    """Wait until the live panel shows a best plan (the first plan has been found)."""
    from playwright.sync_api import expect

    expect(page.get_by_text(re.compile(r"Solving.*best plan \$")).first).to_be_visible()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not HAS_DEFAULT, reason="fleet_data/default is missing")
def test_solve_live_progress_and_stop_in_chromium(default_server: str):
    """On fleet_data/default with gap 0 (never proven quickly): the live panel shows the best
    plan and bound, Stop improving keeps the best plan so far, and the page is whole after."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)"
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page.goto(default_server)
            expect(page.get_by_text("Opening the page plans nothing").first).to_be_visible()
            page.get_by_text("Solver", exact=True).click()  # the sidebar expander
            gap = page.get_by_test_id("stNumberInput").filter(has_text="Relative MIP gap")
            gap.locator("input").fill("0.0000")
            gap.locator("input").press("Enter")
            page.wait_for_timeout(500)  # the rerun of the new gap
            page.get_by_role("button", name=re.compile("Solve")).click()
            first_plan_seen(page)
            expect(page.get_by_text(re.compile(r"bound \$")).first).to_be_visible()
            page.get_by_role("button", name=re.compile("Stop improving")).click()
            verdict = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Verified")
            expect(verdict.first).to_be_visible()
            # Stopped at the next stage, or (when the click came during the proof) by the
            # time limit: either way the best plan so far, not proven at gap 0.
            expect(verdict.first).to_contain_text(
                re.compile(
                    r"feasible, gap .* not proven.*(stopped early|stopped by the time limit)"
                )
            )
            expect(page.get_by_role("button", name=re.compile("Stop improving"))).to_have_count(0)
            assert tco_text(page).startswith("$")
            # The page is whole: Solve again is served from nothing cached (a stopped plan is
            # not the full answer), and the app shows no exception.
            expect(page.get_by_test_id("stException")).to_have_count(0)
            page.get_by_role("button", name=re.compile("Solve")).click()
            first_plan_seen(page)
            page.get_by_role("button", name=re.compile("Stop improving")).click()
            expect(verdict.first).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)
        finally:
            browser.close()


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on TCP ``port`` (Linux ``/proc/net/tcp*``).

    IPv4 entries are little-endian hex (``0100007F`` is 127.0.0.1); IPv6 ones are given as
    ``tcp6:HEX`` (an IPv6 listener would also take IPv4 connections on a dual-stack host).
    """
    found = []
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                if table == "tcp":
                    found.append(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.append(f"tcp6:{address}")
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_dashboard_binds_localhost_from_its_config(server: str, tmp_path: Path):
    """``streamlit run app/dashboard.py`` with no address flag listens on 127.0.0.1 only."""
    port = int(server.rsplit(":", 1)[1])
    assert listening_addresses(port) == ["127.0.0.1"]
    log = (tmp_path / "streamlit.log").read_text(errors="replace")
    assert "Collecting usage statistics" not in log  # gatherUsageStats = false applies too


@pytest.mark.browser
def test_bad_upload_shows_its_message_under_the_title_in_chromium(server: str, tmp_path: Path):
    """A corrupt zip and a zip with a huge CSV: a message inside the page, under the title,
    naming the problem (and the cap); no exception box; then a good zip plans."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)"
    from playwright.sync_api import expect, sync_playwright
    from test_app import big_csv_zip, corrupt_zips, tiny_case_files, zip_of

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page.goto(server)
            page.get_by_text("Upload a zip", exact=True).click()
            title = page.get_by_role("heading", name="Fleet planner: what-if", exact=True)
            uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
            errors = page.get_by_test_id("stMain").get_by_test_id("stAlertContentError")
            for name, data, says in (
                ("crc.zip", corrupt_zips()["bad CRC"], "damaged"),
                ("big.zip", big_csv_zip(45), "over the dashboard's cap"),
            ):
                uploader.set_input_files(
                    files=[{"name": name, "mimeType": "application/zip", "buffer": data}]
                )
                error = errors.filter(has_text=says).first
                expect(error).to_be_visible()
                expect(error).to_contain_text(name)
                expect(page.get_by_test_id("stException")).to_have_count(0)
                title_box, error_box = title.bounding_box(), error.bounding_box()
                assert title_box and error_box
                assert error_box["y"] >= title_box["y"] + title_box["height"] - 1, (
                    "the upload error must appear under the page title"
                )
            uploader.set_input_files(
                files=[
                    {
                        "name": "good.zip",
                        "mimeType": "application/zip",
                        "buffer": zip_of(tiny_case_files()),
                    }
                ]
            )
            expect(page.get_by_text("good.zip").first).to_be_visible()
            expect(errors).to_have_count(0)
            page.get_by_role("button", name=re.compile("Solve")).click()
            verdict = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Verified")
            expect(verdict.first).to_be_visible()
        finally:
            browser.close()


@pytest.fixture
def history_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The dashboard on the tiny case, with a store holding one plan of it (plan 1, "q1")."""
    import planner as pl

    case = write_tiny_case(tmp_path / "stored_case")
    store = tmp_path / "plans.db"
    fleet = pl.load_fleet(case)
    with pl.open_store(store) as opened:
        opened.record(fleet, pl.make_plan(fleet), name="q1", note="recorded by the test")
    monkeypatch.setenv("FLEET_PLANNER_STORE", str(store))
    yield from start_server(tmp_path, False)


@pytest.mark.browser
def test_history_tab_in_chromium(history_server: str):
    """The History tab opens the store, lists the plan and shows it with its status and gap."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)"
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page.goto(history_server)
            page.get_by_role("tab", name="History").click()
            expect(page.get_by_text("to list the plans of the store").first).to_be_visible()
            page.get_by_role("button", name=re.compile("Open the store")).click()
            shown = page.get_by_test_id("stMarkdownContainer").filter(has_text="Plan 1: q1")
            expect(shown.first).to_be_visible()
            expect(shown.first).to_contain_text(re.compile(r"optimal \(gap"))
            expect(shown.first).to_contain_text("note: recorded by the test")
            expect(page.locator('[data-testid="stDataFrame"]:visible').first).to_be_visible()
            expect(page.get_by_text("Record a second plan to diff two.").first).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)
        finally:
            browser.close()
