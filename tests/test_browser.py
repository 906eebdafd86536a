"""The HTML report in a real browser: headless Chromium driven over the DevTools protocol.

The protocol runs over ``--remote-debugging-pipe`` (fds 3/4, NUL-terminated JSON), so no
websocket package is needed. Checks: no console errors or exceptions, no request that leaves
the page (file/data URLs only), every <img> decoded with a non-zero size, every expected table
present; a screenshot is saved under the test's tmp_path.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from test_report import known_rows, write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,1600",
         "--remote-debugging-pipe"]
EXPECTED_TABLES = ["recommendations", "claims-host", "study-models", "robustness", "results",
                   "sensitivity", "environment"]


class DevTools:
    """Minimal Chrome DevTools protocol client over the debugging pipe."""

    def __init__(self, profile: Path):
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        # move the child's ends above 10 so dup2 to 3/4 cannot clobber one with the other
        child_in, child_out = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(res_w)

        def wire():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     preexec_fn=wire, close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(child_in)
        os.close(child_out)
        self.w, self.r = cmd_w, res_r
        self.buf, self.next_id, self.events = b"", 0, []

    def _read(self, timeout: float) -> dict | None:
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.r], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe: "
                                   + self.proc.stderr.read().decode(errors="replace")[-800:])
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read(deadline - time.monotonic())
            if reply is None:
                break
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            hit = next((e for e in self.events if e.get("method") == method), None)
            if hit:
                return hit
            msg = self._read(max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise TimeoutError(method)
            self.events.append(msg)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)


def inspect_page(html: Path, profile: Path, screenshot: Path) -> dict:
    """Load ``html`` in headless Chromium; return what the test asserts on."""
    dt = DevTools(profile)
    try:
        targets = dt.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        sid = dt.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            dt.send(f"{domain}.enable", session=sid)
        dt.events.clear()
        dt.send("Page.navigate", {"url": html.resolve().as_uri()}, session=sid)
        dt.wait_event("Page.loadEventFired")
        probe = """JSON.stringify({
          images: Array.from(document.images).map(i => ({complete: i.complete, w: i.naturalWidth,
                                                         h: i.naturalHeight, alt: i.alt})),
          tables: Array.from(document.querySelectorAll('table')).map(t => t.id),
          rows: document.querySelectorAll('#results tbody tr').length})"""
        value = dt.send("Runtime.evaluate", {"expression": probe, "returnByValue": True,
                                             "awaitPromise": True}, session=sid)["result"]["value"]
        shot = dt.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                       session=sid, timeout=60)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        events = list(dt.events)
    finally:
        dt.close()
    result = json.loads(value)
    result["console_errors"] = [
        e["params"] for e in events
        if (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
        or e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]
    result["requests"] = [e["params"]["request"]["url"] for e in events
                          if e.get("method") == "Network.requestWillBeSent"]
    return result


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_html_in_chromium(tmp_path):
    from edgelnn.report import build_report

    rows = known_rows()
    files = build_report([write_jsonl(tmp_path / "results.jsonl", rows)], tmp_path / "report")
    shot = tmp_path / "report.png"
    page = inspect_page(files.html, tmp_path / "profile", shot)
    assert page["console_errors"] == []
    assert all(u.startswith(("file:", "data:")) for u in page["requests"]), page["requests"]
    assert len(page["images"]) == 3
    for img in page["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    for table in EXPECTED_TABLES:
        assert table in page["tables"]
    assert page["rows"] == len(rows)
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
