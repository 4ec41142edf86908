"""The inspector at /inspector as a person uses it, for the browser tests and the screenshots.

The page is `@mcp-use/inspector`'s app (devtools/inspector_site.py); its own `data-testid`
attributes name its controls. A React page re-renders under the test, so every step finds its
element again until it works (`act`). `exchanges()` reads the HTTP exchanges boot.js keeps in page
memory (what the "HTTP exchanges" panel shows).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e.browser_support import act

SERVER_NAME = "serverless-mcp"
# The header row of Connection Settings: its name field, then its (masked) value field.
HEADER_NAME = 'input[placeholder="Authorization"]'
HEADER_VALUE = '//input[@placeholder="Authorization"]/following::input[1]'
HEADER_REMOVE = '//input[@placeholder="Authorization"]/following::button[2]'


@dataclass
class InspectorPage:
    driver: Chrome
    url: str

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def visible(self, css: str) -> WebElement | None:
        return next((e for e in self.driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None)

    def by_test_id(self, test_id: str) -> WebElement | None:
        return self.visible(f'[data-testid="{test_id}"]')

    def click(self, test_id: str, seconds: float = 20) -> None:
        def attempt() -> bool | None:
            element = self.by_test_id(test_id)
            if element is None or not element.is_enabled():
                return None
            element.click()
            return True

        act(f"the inspector's {test_id}", attempt, seconds)

    def button(self, label: str) -> WebElement | None:
        buttons = self.driver.find_elements(By.TAG_NAME, "button")
        return next((b for b in buttons if b.is_displayed() and b.text.strip() == label), None)

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def open(self) -> None:
        self.driver.get(self.url)
        act("the server list", lambda: self.by_test_id("server-tile-settings"))

    def set_authorization(self, value: str | None) -> None:
        """In the server's Connection Settings: the Authorization header set to `value` (or removed),
        then Save, which reconnects."""
        self.click("server-tile-settings")
        if value is None:
            act("the header's remove button", lambda: _click_xpath(self.driver, HEADER_REMOVE))
        else:

            def name() -> bool | None:
                field = self.visible(HEADER_NAME)
                if field is None:
                    return None
                if not field.get_attribute("value"):
                    field.send_keys("Authorization")
                return True

            act("the header name field", name)

            def fill_value() -> bool | None:
                fields = self.driver.find_elements(By.XPATH, HEADER_VALUE)
                if not fields:
                    return None
                fields[0].send_keys(Keys.CONTROL, "a")
                fields[0].send_keys(Keys.DELETE)
                fields[0].send_keys(value)
                return True

            act("the header value field", fill_value)
        time.sleep(0.3)  # the form keeps the last keystrokes in a debounced state
        self.click("connection-form-save-button")
        # Saving reconnects from the server list (the page goes back to it).
        act("the server list after saving", lambda: self.by_test_id("server-tile-remove"))
        time.sleep(1)

    def open_server(self) -> None:
        """Into the server (its tabs): from the server list, by its tile's name. Once connected the
        app may also go there by itself (its auto-connect keeps the `tab` it was on)."""
        named = f'*[text()="{SERVER_NAME}"]'
        tile_name = f'//*[@data-testid="server-tile-settings"]/ancestor::*[.//{named}][1]//{named}'
        last_click = [0.0]

        def attempt() -> bool | None:
            if self.by_test_id("tab-tools") is not None:
                return True
            # One click, then time for the page to change before another (a click during the
            # app's own navigation would land on whatever replaced the tile).
            if time.monotonic() - last_click[0] < 3:
                return None
            names = [e for e in self.driver.find_elements(By.XPATH, tile_name) if e.is_displayed()]
            if names:
                names[0].click()
                last_click[0] = time.monotonic()
            return None

        act("the server's page", attempt, seconds=30)

    def tool_names(self) -> set[str]:
        self.click("tab-tools")
        act("the tool list", lambda: self.visible('[data-testid^="tool-item-"]'))
        time.sleep(0.5)  # the list renders in one pass; let it finish
        items = self.driver.find_elements(By.CSS_SELECTOR, '[data-testid^="tool-item-"]')
        return {str(item.get_attribute("data-testid")).removeprefix("tool-item-") for item in items}

    def call_tool(self, name: str, arguments: dict[str, str]) -> str:
        """Select the tool, fill its schema form, Execute; the result panel's text."""
        self.click("tab-tools")
        self.click(f"tool-item-{name}")
        for field, value in arguments.items():

            def fill(field: str = field, value: str = value) -> bool | None:
                element = self.by_test_id(f"tool-param-{field}")
                if element is None:
                    return None
                element.send_keys(Keys.CONTROL, "a")
                element.send_keys(value)
                return True

            act(f"the {field} field", fill)
        before = len(self.exchanges())
        self.click("tool-execution-execute-button")
        act("the tools/call exchange", lambda: self.exchange_after(before, "tools/call"))

        def result() -> str | None:
            panel = self.by_test_id("tool-result")
            text = str(panel.text) if panel is not None else ""
            return text if text and "No Results yet" not in text else None

        return act("the tool's result", result)

    def click_panel(self) -> None:
        """Open (or close) the HTTP exchanges panel."""
        act(
            "the HTTP exchanges panel",
            lambda: _click_css(self.driver, "#serverless-mcp-exchanges .smcp-toggle"),
        )

    def panel_row(self, title: str) -> WebElement | None:
        """The newest row of the HTTP exchanges panel whose summary reads `title`."""
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#serverless-mcp-exchanges summary")
        return next((row for row in rows if row.is_displayed() and row.text.strip() == title), None)

    def exchanges(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.driver.execute_script(
            "return (window.__serverlessMcpStores || {exchanges: []}).exchanges"
        )
        return found

    def exchange_after(self, index: int, method: str) -> dict[str, Any] | None:
        """The first finished exchange after `index` whose JSON-RPC method is `method`."""
        for exchange in self.exchanges()[index:]:
            body = exchange.get("requestBody") or ""
            finished = exchange.get("status") and exchange.get("responseBody") is not None
            if finished and method in body and json.loads(body).get("method") == method:
                return exchange
        return None


def _click_xpath(driver: Chrome, xpath: str) -> bool | None:
    found = [e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
    if not found:
        return None
    found[0].click()
    return True


def _click_css(driver: Chrome, css: str) -> bool | None:
    found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
    if not found:
        return None
    found[0].click()
    return True


def header(exchange: dict[str, Any], name: str, side: str = "response") -> str | None:
    """One header of a recorded exchange (`side`: request or response)."""
    pairs = exchange[f"{side}Headers"]
    return next((value for key, value in pairs if key == name), None)


def enter_widget(driver: Chrome, sandbox: str, seconds: float = 60) -> None:
    """Into the widget's own frame: the sandbox page (on `sandbox`) holds it in an inner frame."""
    frames = act(
        "the widget's sandbox frame", lambda: driver.find_elements(By.CSS_SELECTOR, "iframe"), seconds
    )
    outer = frames[0]
    assert str(outer.get_attribute("src")).startswith(f"{sandbox}/inspector/sandbox?")
    driver.switch_to.frame(outer)
    inner = act("the widget's frame", lambda: driver.find_elements(By.TAG_NAME, "iframe"), seconds)[0]
    driver.switch_to.frame(inner)


def dice_shown(driver: Chrome) -> tuple[list[int], str]:
    """What the dice widget shows (from inside its frame): its dice and its status line."""
    dice = [int(die.text) for die in driver.find_elements(By.CSS_SELECTOR, "#dice .die")]
    return dice, " ".join(line.text for line in driver.find_elements(By.ID, "status"))
