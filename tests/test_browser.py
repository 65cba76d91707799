"""The HTML report in a real headless Chromium: no console errors, working filters, the map,
the findings first and copy buttons that copy the exact command.

Chromium is driven through the Chrome DevTools Protocol over `--remote-debugging-pipe`
(JSON messages ending in NUL on file descriptors 3 and 4, as Playwright does): no port, no
WebDriver and no Python dependency. The test skips only where no `chromium` binary exists;
`.ci/run` installs Debian's package first.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.model import InternetGateway, NatGateway, Snapshot
from auditor.report import render_html
from tests.builders import R1, R2, A, B, peering, s3_endpoint, side, snapshot, vpc
from tests.reports import report_of
from tests.test_report_template import hub_report, hub_snapshot, large_report, sample_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)"
)

FLAGS = [
    "--headless",
    "--remote-debugging-pipe",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
]


class CdpError(RuntimeError):
    pass


def _above_nine(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Chromium:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path, timeout: float = 30.0) -> None:
        assert CHROMIUM is not None
        self.timeout = timeout
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Move the child's ends above 9, so that putting them on fds 3 and 4 cannot clobber them.
        to_chrome_r, from_chrome_w = (_above_nine(to_chrome_r), _above_nine(from_chrome_w))
        # Chromium reads commands from fd 3 and writes replies to fd 4: a tiny Python trampoline
        # puts our pipe ends there and execs it (no preexec_fn: the tests run threads).
        trampoline = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.closerange(5, 1024); os.execv(sys.argv[3], sys.argv[3:])"
        )
        command = [sys.executable, "-c", trampoline, str(to_chrome_r), str(from_chrome_w)]
        command += [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile / "chromium.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command,
                pass_fds=(to_chrome_r, from_chrome_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.page(f"{domain}.enable")

    # --- protocol ---

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError("timed out waiting for Chromium")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise CdpError(f"Chromium exited: {self.log_tail()}")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        result: dict[str, Any] = json.loads(message)
        return result

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise CdpError(f"Chromium exited: {self.log_tail()}") from None
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, self.session, **params)

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        seen = len(self.events)
        while True:
            for message in self.events[seen:]:
                if message.get("method") == event:
                    return message
            seen = len(self.events)
            message = self._read(deadline)
            if "method" in message:
                self.events.append(message)

    # --- page helpers ---

    def open(self, url: str, width: int = 1400, height: int = 1000) -> None:
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.page("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def click(self, selector: str) -> None:
        """A real click (a user gesture, as the clipboard wants) in the middle of the element."""
        self.js(
            f"document.querySelector({json.dumps(selector)}).scrollIntoView({{block: 'center'}})"
        )
        x, y = self.js(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def js(self, expression: str) -> Any:
        reply = self.page(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise CdpError(f"{expression!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        shot = self.page("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def log_tail(self) -> str:
        self.process.poll()
        lines = self.log.read_text(errors="replace").splitlines()[-15:]
        return f"code {self.process.returncode}; log {self.log}:\n" + "\n".join(lines)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (CSP violations too)."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            method = event.get("method")
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found

    def close(self) -> None:
        with contextlib.suppress(CdpError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


def estate() -> Snapshot:
    """Two accounts, two regions: peerings inside a group, across regions, pending, to a stranger."""
    hostile = {"Name": '"/><script>alert(1)</script>'}
    return snapshot(
        vpc("vpc-a1", "10.0.0.0/16", tags={"Name": "shop-prod"}),
        vpc("vpc-a2", "10.1.0.0/16", tags=hostile),
        vpc("vpc-a3", "10.2.0.0/16", region=R2, tags={"Name": "shop-eu"}),
        vpc("vpc-b1", "10.9.0.0/16", account=B, tags={"Name": "analytics"}),
        s3_endpoint("vpce-1", "vpc-a1", "rtb-1"),
        NatGateway("nat-1", A, R1, "vpc-a1"),
        NatGateway("nat-2", A, R1, "vpc-a1"),
        InternetGateway("igw-1", A, R1, ["vpc-a1"]),
        peering("pcx-0f1e2d3c4b5a69788", side("vpc-a1", "10.0.0.0/16"), side("vpc-a2")),
        peering("pcx-2", side("vpc-a1"), side("vpc-a3", region=R2)),
        peering("pcx-3", side("vpc-a2"), side("vpc-b1", account=B), "pending-acceptance"),
        peering("pcx-4", side("vpc-a2"), side("vpc-zz", account="333333333333")),
    )


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template test's sample report (3 findings: 1 high, 2 medium) with a map."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(report_of(sample_report()), estate()), encoding="utf-8")
    return path


VISIBLE = """[...document.querySelectorAll('#findings article.finding')]
    .filter(el => el.checkVisibility()).map(el => el.dataset.severity + ':' + el.id)"""


def set_select(key: str, value: str) -> str:
    return f"""(() => {{
        const el = document.querySelector('#filters select[data-key="{key}"]');
        el.value = {json.dumps(value)};
        el.dispatchEvent(new Event('change', {{bubbles: true}}));
        return el.value;
    }})()"""


def test_report_loads_without_errors_and_filters_work(
    browser: Chromium, report_page: Path, tmp_path: Path
) -> None:
    browser.open(report_page.as_uri())
    assert browser.js("document.title").startswith("vpc-audit report")

    # The script ran (it un-hides the filter bar) and nothing complained: no console error,
    # no exception, no CSP violation (the policy allows our script by hash only).
    assert browser.js("document.getElementById('filters').hidden") is False
    assert browser.js("document.getElementById('filters').checkVisibility()") is True
    everything = browser.js(VISIBLE)
    assert len(everything) == 3

    # The map: inline SVG with VPC boxes, peering lines and a peer stub.
    assert browser.js("document.querySelectorAll('#map svg.topo').length") >= 2
    assert browser.js("document.querySelectorAll('#map svg.topo .node.vpc').length") == 4
    assert browser.js("document.querySelectorAll('#map svg.topo path.edge').length") >= 4
    assert browser.js("document.querySelectorAll('#map svg.topo .node.peer').length") >= 3
    box = browser.js(
        "(() => { const r = document.querySelector('#map svg.topo').getBoundingClientRect();"
        " return [r.width, r.height]; })()"
    )
    assert box[0] > 200 and box[1] > 100
    # The hostile Name tag is text in the SVG (box title, shortened; full in the tooltip).
    titles = browser.js(
        "[...document.querySelectorAll('#map svg.topo text.t1')].map(t => t.textContent)"
    )
    assert '"/><script>alert(1)</scr\u2026' in titles
    tooltips = browser.js(
        "[...document.querySelectorAll('#map svg.topo .node title')].map(t => t.textContent)"
    )
    assert any(t.startswith('"/><script>alert(1)</script>') for t in tooltips)
    assert browser.js("document.querySelectorAll('script').length") == 1

    # Severity filter: only the high finding stays.
    assert browser.js(set_select("severity", "high")) == "high"
    assert browser.js(VISIBLE) == ["high:f-0a1b2c3d4e5f6789"]
    assert "Showing 1 of 3" in browser.js("document.getElementById('f-status').textContent")
    # A rule group with nothing left is hidden as a whole.
    assert (
        browser.js("document.querySelectorAll('#findings details.rule-group:not([hidden])').length")
        == 1
    )
    assert browser.js(set_select("severity", "")) == ""
    assert len(browser.js(VISIBLE)) == 3

    # Free text, typed as a person would: only the matching finding stays.
    browser.js("document.getElementById('f-text').focus()")
    browser.page("Input.insertText", text="rtb-0evil")
    time.sleep(0.2)
    assert browser.js(VISIBLE) == ["medium:f-fedcba9876543210"]
    screenshot = browser.screenshot(tmp_path / "report-filtered.png", full_page=False)

    # Account and region filters also hide the other account-regions' maps.
    browser.js("document.getElementById('f-clear').click()")
    assert len(browser.js(VISIBLE)) == 3
    browser.js(set_select("account", "210987654321"))
    assert browser.js(VISIBLE) == ["medium:f-fedcba9876543210"]
    browser.js(set_select("region", "us-east-1"))
    assert browser.js(VISIBLE) == []
    assert browser.js("document.getElementById('f-status').textContent").startswith("Showing 0")

    # Clearing restores everything, groups open again.
    browser.js("document.getElementById('f-clear').click()")
    assert browser.js(VISIBLE) == everything
    assert browser.js("[...document.querySelectorAll('.map-group')].every(g => !g.hidden)")
    assert browser.js("document.getElementById('f-text').value") == ""

    # Selecting a VPC on the map filters the findings to it.
    browser.js(
        "document.querySelector('#map a[data-filter=\"vpc-a1\"]').dispatchEvent("
        "new MouseEvent('click', {bubbles: true, cancelable: true}))"
    )
    assert browser.js("document.getElementById('f-text').value") == "vpc-a1"

    full = browser.screenshot(tmp_path / "report.png")
    print(f"\nscreenshots: {full} {screenshot}")
    assert full.stat().st_size > 10_000
    assert browser.errors() == []


SECTION_TOPS = """['summary', 'fix-first', 'findings', 'map', 'coverage', 'passed']
    .map(id => document.getElementById(id)).filter(Boolean)
    .map(el => [el.id, el.getBoundingClientRect().top + window.scrollY])"""


def test_findings_come_first_and_evidence_starts_closed(
    browser: Chromium, report_page: Path
) -> None:
    browser.open(report_page.as_uri())
    tops = browser.js(SECTION_TOPS)
    assert [name for name, _ in tops] == ["summary", "fix-first", "findings", "map", "coverage"]
    assert [top for _, top in tops] == sorted(top for _, top in tops)
    assert dict(tops)["fix-first"] < 1000  # in the first screen
    # The fix-first table: high first, each distinct command in its own block.
    rows = browser.js(
        "[...document.querySelectorAll('#fix-first tbody tr')].map(r => r.cells[1].textContent.trim())"
    )
    assert rows == ["high", "medium", "medium"]
    assert browser.js("document.querySelectorAll('#fix-first .cmd pre').length") == 2
    # Evidence is closed: its summary line shows, its tables do not.
    assert browser.js("document.querySelectorAll('details.evidence').length") == 3
    assert (
        browser.js("[...document.querySelectorAll('details.evidence')].some(d => d.open)") is False
    )
    assert browser.js("document.querySelector('details.evidence > summary').checkVisibility()")
    assert (
        browser.js("document.querySelector('details.evidence .ev-body').checkVisibility()") is False
    )
    assert browser.errors() == []


COMMAND = (
    "# in account 123456789012 (us-east-1)\naws ec2 modify-vpc-peering-connection-options "
    "--vpc-peering-connection-id pcx-0f1e2d3c4b5a69788 --requester-peering-connection-options "
    "'{\"AllowDnsResolutionFromRemoteVpc\":true}' --region us-east-1"
)
FIRST_COPY = "#fix-first .cmd .copy"


def test_copy_buttons_copy_the_exact_command(browser: Chromium, report_page: Path) -> None:
    """By the clipboard API when allowed, else by a selected textarea and execCommand('copy');
    the '# in account' line is part of what is copied (a shell comment)."""
    browser.call(
        "Browser.grantPermissions", permissions=["clipboardReadWrite", "clipboardSanitizedWrite"]
    )
    try:
        browser.open(report_page.as_uri())
        assert browser.js("document.querySelectorAll('.cmd .copy').length") == 4  # table, cards
        # The filter's text search reads what the findings say, not the buttons' labels.
        browser.js("document.getElementById('f-text').focus()")
        browser.page("Input.insertText", text="copy")
        time.sleep(0.2)
        assert browser.js(VISIBLE) == []
        browser.js("document.getElementById('f-clear').click()")
        browser.click(FIRST_COPY)
        time.sleep(0.2)
        assert browser.js(f"document.querySelector('{FIRST_COPY}').textContent") == "Copied"
        assert browser.js("navigator.clipboard.readText()") == COMMAND

        # No clipboard API (an older browser, or a page it does not trust): the fallback.
        browser.js("navigator.clipboard.writeText('something else')")
        browser.js(
            "Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})"
        )
        browser.click(FIRST_COPY)
        time.sleep(0.2)
        assert browser.js("document.querySelectorAll('textarea').length") == 0  # cleaned up
        browser.js("delete navigator.clipboard")
        assert browser.js("navigator.clipboard.readText()") == COMMAND
    finally:
        browser.call("Browser.resetPermissions")
    assert browser.errors() == []


def test_report_reads_without_javascript(
    browser: Chromium, report_page: Path, tmp_path: Path
) -> None:
    browser.page("Emulation.setScriptExecutionDisabled", value=True)
    try:
        browser.open(report_page.as_uri())
        assert browser.js("document.getElementById('filters').checkVisibility()") is False
        assert len(browser.js(VISIBLE)) == 3
        assert browser.js("document.querySelectorAll('#map svg.topo .node.vpc').length") == 4
        # The commands are there to select, with no button that would do nothing.
        assert browser.js("document.querySelectorAll('.cmd .copy').length") == 0
        commands = browser.js("[...document.querySelectorAll('.cmd pre')].map(p => p.textContent)")
        assert COMMAND in commands and len(commands) == 4
        assert browser.js(
            "[...document.querySelectorAll('.cmd pre')].every(p => p.checkVisibility())"
        )
        tops = browser.js(SECTION_TOPS)
        assert [top for _, top in tops] == sorted(top for _, top in tops)
        shot = browser.screenshot(tmp_path / "report-nojs.png")
        print(f"\nscreenshot without JS: {shot}")
    finally:
        browser.page("Emulation.setScriptExecutionDisabled", value=False)
    assert browser.errors() == []


def test_print_layout_hides_the_filter_bar(browser: Chromium, report_page: Path) -> None:
    browser.open(report_page.as_uri())
    browser.page("Emulation.setEmulatedMedia", media="print")
    try:
        assert browser.js("getComputedStyle(document.getElementById('filters')).display") == "none"
        assert len(browser.js(VISIBLE)) == 3
        assert browser.js("document.querySelector('#map svg.topo').checkVisibility()") is True
    finally:
        browser.page("Emulation.setEmulatedMedia", media="")
    assert browser.errors() == []


def test_large_report_stays_usable(browser: Chromium, tmp_path: Path) -> None:
    """30,000 findings: the page holds a bounded sample, collapsed, and the filters still work."""
    page = tmp_path / "large.html"
    page.write_text(render_html(report_of(large_report(30_000, 8)), None), encoding="utf-8")
    started = time.monotonic()
    browser.open(page.as_uri())
    print(f"\n{page.stat().st_size / 1e6:.1f} MB loaded in {time.monotonic() - started:.1f} s")
    assert browser.js("document.querySelectorAll('article.finding').length") == 1600
    assert browser.js("document.querySelectorAll('details.rule-group[open]').length") == 0
    assert browser.js("document.querySelectorAll('.more-note').length") == 8

    browser.js(set_select("severity", "high"))
    high = browser.js("document.querySelectorAll('article.finding[data-severity=high]').length")
    assert len(browser.js(VISIBLE)) == high > 0  # matching groups open to show them
    assert browser.js("document.querySelectorAll('details.rule-group[open]').length") == 8

    browser.js("document.getElementById('f-clear').click()")
    assert browser.js("document.querySelectorAll('details.rule-group[open]').length") == 0
    assert browser.js("document.querySelectorAll('article.finding:not([hidden])').length") == 1600
    assert browser.errors() == []


@pytest.fixture(scope="module")
def hub_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/hub.py's estate with findings on an attachment, a hub route table and spokes."""
    path = tmp_path_factory.mktemp("hub") / "hub.html"
    path.write_text(render_html(report_of(hub_report()), hub_snapshot()), encoding="utf-8")
    return path


def click_map(filter_value: str) -> str:
    """Click the map element that selects `filter_value`, as a person would."""
    return f"""document.querySelector('#map a[data-filter="{filter_value}"]').dispatchEvent(
        new MouseEvent('click', {{bubbles: true, cancelable: true}}))"""


def test_hub_findings_are_selectable_on_the_map_like_peering_ones(
    browser: Chromium, hub_page: Path, tmp_path: Path
) -> None:
    browser.open(hub_page.as_uri())
    everything = browser.js(VISIBLE)
    assert len(everything) == 4
    assert browser.js("document.querySelectorAll('#map svg.topo .node.hub').length") == 2
    assert browser.js("document.querySelectorAll('#map svg.topo path.hub-edge').length") == 3
    # The pending attachment with a medium finding: its line and marker take the colour.
    marker = '#map a[data-filter="tgw-attach-spoke2"] .marker'
    assert browser.js(f"document.querySelector('{marker}').classList.contains('c-medium')")
    assert (
        browser.js(f"getComputedStyle(document.querySelector('{marker} rect')).stroke")
        == "rgb(194, 81, 0)"
    )  # --medium

    # Selecting the attachment's marker lists its finding, and the path that enters the hub
    # by it (a search for its id, as for a peering).
    browser.js(click_map("tgw-attach-spoke2"))
    assert browser.js("document.getElementById('f-text').value") == "tgw-attach-spoke2"
    assert browser.js(VISIBLE) == ["medium:f-1000000000000001", "high:f-1000000000000002"]
    browser.js(click_map("tgw-attach-spoke1"))
    assert browser.js(VISIBLE) == ["medium:f-1000000000000003"]

    # Selecting the hub lists what involves the transit gateway: the attachment, its route
    # table, the S3 path through it; not the egress VPC's dead internet route.
    browser.js(click_map("tgw-1"))
    assert browser.js("document.getElementById('f-text').value") == "tgw-1"
    assert browser.js(VISIBLE) == [
        "medium:f-1000000000000001",
        "high:f-1000000000000002",
        "medium:f-1000000000000003",
    ]

    # Hops read as a numbered table in the page.
    steps = browser.js(
        "[...document.querySelectorAll('#f-1000000000000002 table.hops')[0].rows]"
        ".slice(1).map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent)"
    )
    assert steps == ["1 rtb-spoke2", "2 tgw-rtb-spokes", "3 rtb-eg-tgw"]

    browser.js("document.getElementById('f-clear').click()")
    assert browser.js(VISIBLE) == everything
    shot = browser.screenshot(tmp_path / "hub.png")
    print(f"\nscreenshot: {shot}")
    assert browser.errors() == []
