"""The reference web app (/app/) in headless Chromium against the live demo: sign in,
the week (both roles), the meeting page (talking point, the shared note edited from two
windows until 412, merge, rating), findings (acknowledge), insights (SVG chart). Counts
the API calls each screen makes (the page's own counter of its fetches) and checks the
accessibility basics: every control labelled, the meeting page reachable by Tab."""

from __future__ import annotations

import time

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.slow

UNLABELLED = """return [...document.querySelectorAll('main input, main select, main textarea')]
  .filter(e => !e.labels?.length && !e.getAttribute('aria-label')).map(e => e.outerHTML)"""


def _ready(driver, screen: str) -> int:
    """Waits for the router's "rendered" mark; the API calls the screen made."""
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.body.dataset.screen === arguments[0] && document.body.dataset.ready === '1'", screen
        )
    )
    error = driver.find_elements(By.CSS_SELECTOR, "main .error[role=alert]")
    assert not [e.text for e in error if e.text], [e.text for e in error]
    assert driver.execute_script(UNLABELLED) == [], "controls without a label"
    return driver.execute_script("return window.__apiCalls")


def _go(driver, url: str, hash_: str, screen: str) -> int:
    driver.execute_script("document.body.dataset.ready = ''; location.hash = arguments[0]", hash_)
    return _ready(driver, screen)


def _sign_in(driver, url: str, token: str) -> int:
    driver.get(f"{url}/app/#/signin")
    _ready(driver, "signin")
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.send_keys(Keys.ENTER)
    return _ready(driver, "week")


def _wait_text(driver, by, sel, text):
    WebDriverWait(driver, 20).until(ec.text_to_be_present_in_element((by, sel), text))


def test_walk_the_app(sandbox_server, browser, artifacts):
    url, token = sandbox_server
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    d = browser
    started = time.monotonic()
    calls: dict[str, int] = {}
    shots: list[str] = []

    def shot(name: str) -> None:
        d.save_screenshot(str(artifacts / f"{name}.png"))
        shots.append(name)

    d.get(f"{url}/app/")
    _ready(d, "signin")
    shot("signin")
    calls["week (manager)"] = _sign_in(d, url, token)
    shot("week-manager")
    links = d.find_elements(By.CSS_SELECTOR, "li.meeting a")
    assert links, "the demo's manager has 1:1s in the demo's current week"
    assert calls["week (manager)"] <= 2  # GET /v1/meetings and /v1/me/action-items
    reports = {m["other"]["name"] for m in api.get("/v1/meetings", params={"role": "manager"}).json()["items"]}
    week = d.find_element(By.TAG_NAME, "main").text
    assert any(name in week for name in reports), "the week names the other participant"
    assert d.find_elements(By.ID, "my-actions"), "the caller's open action items across pairs"

    pressed = {b.text: b.get_attribute("aria-pressed") for b in d.find_elements(By.CSS_SELECTOR, ".toggle button")}
    assert pressed == {"As manager": "true", "As report": "false"}
    d.find_element(By.XPATH, "//button[normalize-space()='As report']").click()
    calls["week (report)"] = _ready(d, "week")
    assert calls["week (report)"] <= 2
    shot("week-report")
    d.find_element(By.XPATH, "//button[normalize-space()='As manager']").click()
    _ready(d, "week")

    held = d.find_elements(By.XPATH, "//li[contains(@class,'meeting')][span[contains(@class,'held')]]/a")
    assert held, "a held 1:1 this week to rate"
    meeting_hash = held[0].get_attribute("href").split("#", 1)[1]
    held[0].click()
    calls["meeting"] = _ready(d, "meeting")
    assert calls["meeting"] <= 2
    shot("meeting")

    # Keyboard: Tab from the page's start reaches every control of the meeting page.
    d.find_element(By.TAG_NAME, "h1").click()
    seen = set()
    for _ in range(80):
        d.switch_to.active_element.send_keys(Keys.TAB)
        seen.add(d.switch_to.active_element.get_attribute("id"))
    wanted = {"tp-body", "tp-private", "tpl-open", "ai-body", "ai-owner", "shared-note", "shared-save"}
    wanted |= {"private-note", "private-save", "rating-comment"}
    assert wanted <= seen, wanted - seen
    assert any(s and s.startswith("rating-") and s[7:].isdigit() for s in seen)

    # Add a private talking point, keyboard only.
    box = d.find_element(By.ID, "tp-body")
    box.send_keys("Growth plan for next quarter")
    d.find_element(By.ID, "tp-private").send_keys(Keys.SPACE)
    box.send_keys(Keys.ENTER)
    _wait_text(d, By.ID, "agenda", "Growth plan for next quarter")
    item = d.find_element(By.XPATH, "//ol[@id='agenda']/li[contains(., 'Growth plan for next quarter')]")
    assert "private" in item.text

    # The shared note from two windows: the second save meets 412 and is resolved.
    first = d.current_window_handle
    d.find_element(By.ID, "shared-note").send_keys("Agreed: A's line")
    d.switch_to.new_window("window")
    second = d.current_window_handle
    _sign_in(d, url, token)
    _go(d, url, f"#{meeting_hash}".replace("##", "#"), "meeting")
    d.find_element(By.ID, "shared-note").send_keys("Agreed: B's line")
    d.find_element(By.ID, "shared-save").click()
    _wait_text(d, By.ID, "shared-status", "Saved")
    d.switch_to.window(first)
    d.find_element(By.ID, "shared-save").click()
    WebDriverWait(d, 20).until(lambda dr: dr.find_element(By.ID, "conflict").is_displayed())
    assert "B's line" in d.find_element(By.ID, "conflict-theirs").text
    assert "A's line" in d.find_element(By.ID, "conflict-yours").text
    shot("meeting-conflict")
    d.find_element(By.ID, "conflict-merge").click()
    merged = d.find_element(By.ID, "shared-note").get_attribute("value")
    assert "A's line" in merged and "B's line" in merged
    d.find_element(By.ID, "shared-save").click()
    _wait_text(d, By.ID, "shared-status", "Saved")
    meeting_id = meeting_hash.rsplit("/", 1)[1]
    assert api.get(f"/v1/meetings/{meeting_id}/notes/shared").json()["body"] == merged
    d.switch_to.window(second)
    d.close()
    d.switch_to.window(first)

    # Rate the held meeting.
    d.find_element(By.CSS_SELECTOR, "label[for=rating-4]").click()
    d.find_element(By.ID, "rating-comment").send_keys("Useful")
    d.find_element(By.XPATH, "//button[normalize-space()='Save rating']").click()
    _wait_text(d, By.ID, "rating-status", "rated 4/5")
    assert api.get(f"/v1/meetings/{meeting_id}/feedback").json()["rating"] == 4
    shot("meeting-rated")

    # Findings: explained, and acknowledged.
    calls["findings"] = _go(d, url, "#/findings", "findings")
    shot("findings")
    button = d.find_element(By.CSS_SELECTOR, "button[data-ack]")
    finding_id = button.get_attribute("data-ack")
    assert d.find_elements(By.CSS_SELECTOR, "li.finding details summary"), "evidence shown"
    button.click()
    _wait_text(d, By.CSS_SELECTOR, f"li[data-finding='{finding_id}'] .ack", "acknowledged")
    assert api.get(f"/v1/findings/{finding_id}").json()["acknowledged_at"]

    # Insights: team and a pair, each with the held-vs-cancelled chart.
    calls["insights (team)"] = _go(d, url, "#/insights", "insights")
    assert d.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar-held")
    shot("insights-team")
    pair_link = d.find_element(By.CSS_SELECTOR, "main a[href^='#/insights/pair/']").get_attribute("href")
    calls["insights (pair)"] = _go(d, url, "#" + pair_link.split("#", 1)[1], "insights")
    assert d.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar-cancelled")
    shot("insights-pair")

    print(f"\nAPI calls per screen: {calls}")
    print(f"screenshots: {', '.join(str(artifacts / s) + '.png' for s in shots)}")
    print(f"browser walk: {time.monotonic() - started:.1f} s")
