"""`make demo`'s parts, watched the way a user would: the status page in headless Chromium.

Runs `python -m demo.run` (every part on a free port), checks Prometheus loaded the generated
rules and scrapes both jobs, opens the status page in a real headless Chromium (Debian's
`chromium` + `chromium-driver`, driven by selenium), checks the class rows, pushes a burst with
`python -m demo.burst`, and waits for the gpu class's desired replicas to rise on the page and
for the demo alert to reach the local Alertmanager sink. Saves a screenshot under tmp_path.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.support.servers import REPO, wait_for

pytestmark = pytest.mark.real_servers


class Output:
    """The demo's stdout, read without blocking."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.text = ""

    def until(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} in the demo's output:\n{self.text[-3000:]}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536).decode(errors="replace")
                if not chunk:  # the demo exited and its output is all read
                    deadline = 0.0
                self.text += chunk


@pytest.fixture
def demo():
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.run"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "DEMO_FREE_PORTS": "1", "PYTHONUNBUFFERED": "1",
             "PYTHONPATH": str(REPO)},
        start_new_session=True,
    )  # fmt: skip
    out = Output(proc)
    try:
        yield out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,2300"):  # fmt: skip
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def _desired(driver, cls: str) -> int | None:
    (el,) = driver.find_elements(By.CSS_SELECTOR, f'section[data-class="{cls}"] .desired')
    value = el.get_attribute("data-desired")
    return int(value) if value else None


def test_demo_status_page_in_chromium_shows_a_burst(demo, browser, tmp_path):
    banner = demo.until(r"Ctrl-C stops everything\.", timeout=90)
    assert banner
    status_url = demo.until(r"status page:\s+(http://\S+/)", 1).group(1)
    prom = demo.until(r"Prometheus alerts:\s+(http://[^/\s]+)/alerts", 1).group(1)
    am = demo.until(r"Alertmanager:\s+(http://\S+)/", 1).group(1)
    burst = demo.until(r"python -m demo\.burst --class gpu --jobs 200 --redis-url (\S+)", 1)

    # Prometheus runs the generated rules and the demo's, and scrapes both jobs.
    groups = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert {"ExporterDown", "QueueBacklogGrowing", "DemoQueueBurst"} <= names
    assert httpx.get(f"{am}/-/ready", timeout=5).status_code == 200
    wait_for(
        lambda: (
            {
                t["labels"]["job"]
                for t in httpx.get(f"{prom}/api/v1/targets", timeout=5).json()["data"][
                    "activeTargets"
                ]
                if t["health"] == "up"
            }  # fmt: skip
            == {"exporter", "demo-app"}
        ),
        timeout=30,
        what="Prometheus scraping the exporter and the demo app",
    )

    def page_with_decisions():
        browser.get(status_url)
        rows = browser.find_elements(By.CSS_SELECTOR, "section.class")
        classes = {r.get_attribute("data-class") for r in rows}
        return classes == {"cpu", "gpu", "memory"} and _desired(browser, "gpu") is not None

    wait_for(page_with_decisions, timeout=30, what="every class row with a decision")
    assert "exporter status" in browser.title
    assert browser.find_elements(By.CSS_SELECTOR, 'section[data-class="gpu"] svg.spark')
    before = _desired(browser, "gpu")
    # 5 demo jobs at 2 per replica: 3 if the 1 s queue read saw them before they drained
    assert before is not None and before <= 3

    pushed = subprocess.run(
        [sys.executable, "-m", "demo.burst", "--class", "gpu", "--jobs", "200",
         "--redis-url", burst.group(1)],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert "pushed 200 jobs onto jobs:gpu" in pushed.stdout

    def risen():
        browser.refresh()
        now = _desired(browser, "gpu")
        return now if now is not None and now > before else None

    after = wait_for(risen, timeout=30, interval=1, what="gpu desired replicas rising")
    assert after <= 8  # max_replicas
    why = browser.find_element(By.CSS_SELECTOR, 'section[data-class="gpu"] .why').text
    assert "gpu: queue_depth" in why and "desired" in why
    shot = tmp_path / "status.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the demo rule fires (for: 10s), Alertmanager routes it to the demo's sink
    demo.until(r"ALERT firing: DemoQueueBurst \(component_class=gpu", timeout=90)

    # Ctrl-C (SIGINT to the process group) stops every part and exits 0
    os.killpg(demo.proc.pid, signal.SIGINT)
    assert demo.proc.wait(60) == 0
    demo.until(r"stopped prometheus[\s\S]*stopped alertmanager[\s\S]*stopped exporter", 5)
    with pytest.raises(httpx.TransportError):
        httpx.get(status_url, timeout=2)
