"""The memory console in a real headless Chromium, against the real server.

Set ENGRAM_SCREENSHOTS to a folder to keep the docs' screenshots from these runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import Server, token_for
from tests.e2e.helpers import all_memories, say, say_in_new_thread

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]
WAIT_S = 30


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], object]) -> object:
    return WebDriverWait(driver, WAIT_S).until(condition)


def text_of(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def status_says(element_id: str, words: str) -> Callable[[WebDriver], bool]:
    return lambda driver: words in text_of(driver, element_id)


def sign_in(driver: WebDriver, server: Server, token: str) -> None:
    driver.get(f"{server.url}/engram/ui")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{server.url}/engram/ui/")
    field = wait_for(driver, ready.element_to_be_clickable((By.ID, "token")))
    assert isinstance(field, WebElement)
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()


def signed_in_as(driver: WebDriver, server: Server, user: str) -> None:
    sign_in(driver, server, token_for(user))
    wait_for(driver, status_says("who", user))
    wait_for(driver, lambda d: "Loading" not in text_of(d, "memories-status")
             and text_of(d, "memories-status"))


def cards(driver: WebDriver) -> list[WebElement]:
    return list(driver.find_elements(By.CSS_SELECTOR, "#memories > li.card"))


def card_with(driver: WebDriver, words: str) -> WebElement:
    found = [card for card in cards(driver) if words in card.find_element(By.CLASS_NAME, "text").text]
    assert found, [card.text for card in cards(driver)]
    return found[0]


def tab(driver: WebDriver, name: str) -> None:
    driver.find_element(By.ID, f"tab-{name}").click()


def screenshot(driver: WebDriver, name: str) -> None:
    if folder := os.environ.get("ENGRAM_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def test_a_wrong_token_shows_an_error_not_a_blank_page(browser: WebDriver, server: Server) -> None:
    sign_in(browser, server, "not-a-valid-token")
    wait_for(browser, ready.visibility_of_element_located((By.ID, "error")))
    assert "refused" in text_of(browser, "error")
    assert browser.find_element(By.ID, "sign-in").is_displayed()
    assert not browser.find_element(By.ID, "console").is_displayed()
    # The page is labelled and keyboard-reachable: focus is back in the token field.
    assert browser.switch_to.active_element.get_attribute("id") == "token"


async def test_sign_in_search_edit_approve_and_delete(
    browser: WebDriver, server: Server, client_for: Clients
) -> None:
    lena = client_for("lena")
    thread = (await lena.threads.create())["thread_id"]
    await say(lena, thread, "I prefer green tea in the morning.")
    await say(lena, thread, "I live in Lisbon.")

    signed_in_as(browser, server, "lena")
    assert len(cards(browser)) == 2
    assert "2 memories, newest first" in text_of(browser, "memories-status")

    # Search: the store's hybrid ranking; the tea memory comes first.
    browser.find_element(By.ID, "query").send_keys("what do I drink")
    browser.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait_for(browser, status_says("memories-status", "best first"))
    assert "green tea" in cards(browser)[0].text

    # Edit: scrubbed, re-embedded, the old text kept in the history.
    card_with(browser, "green tea").find_element(By.XPATH, ".//button[text()='Edit']").click()
    area = browser.switch_to.active_element
    assert area.tag_name == "textarea"
    area.clear()
    area.send_keys("The user prefers jasmine tea. Write to lena.home@example.com")
    browser.find_element(By.XPATH, "//form[@class='edit']//button[text()='Save']").click()
    wait_for(browser, status_says("memories-status", "Saved"))
    edited = card_with(browser, "jasmine tea")
    assert "lena.home@example.com" not in edited.text
    history = edited.find_element(By.TAG_NAME, "details")
    assert history.get_attribute("open") is not None
    assert "green tea" in history.text and "edited by the user" in history.text

    # Back to the whole list: the history opens from the keyboard.
    browser.find_element(By.ID, "query").clear()
    browser.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait_for(browser, status_says("memories-status", "2 memories, newest first"))
    summary = card_with(browser, "jasmine tea").find_element(By.TAG_NAME, "summary")
    summary.send_keys(Keys.ENTER)
    assert card_with(browser, "jasmine tea").find_element(By.TAG_NAME, "details").get_attribute(
        "open") is not None
    screenshot(browser, "console-memories.png")

    stored = {m["key"]: m["value"] for m in await all_memories(lena)}
    [tea] = [v for v in stored.values() if "jasmine" in v.get("text", "")]
    assert "lena.home@example.com" not in str(tea) and tea["scrubbed"]
    assert tea["history"][-1]["text"].startswith("The user prefers green tea")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token_for('lena')}"}) as http:
        found = (await http.get(f"{server.url}/engram/memories",
                                params={"q": "jasmine flavoured drinks"})).json()["memories"]
    assert "jasmine" in found[0]["text"] and found[0]["similarity"] > 0.3  # re-embedded

    # Approve a pending write: a run under approval=always pauses at the gate.
    paused = await say_in_new_thread(lena, "I live in Porto.", approval="always")
    tab(browser, "approvals")
    wait_for(browser, status_says("approvals-status", "waits for your decision"))
    approval = browser.find_element(By.CSS_SELECTOR, f"article.approval[data-thread='{paused}']")
    assert "Porto" in approval.text and "Lisbon" in approval.text  # what it replaces
    screenshot(browser, "console-approval.png")
    approval.find_element(By.XPATH, ".//button[text()='Approve all']").click()
    wait_for(browser, status_says("approvals-status", "Nothing waits for approval"))
    assert (await lena.threads.get(paused))["status"] == "idle"
    texts = [m["value"].get("text", "") for m in await all_memories(lena)
             if m["value"].get("kind") != "episode" and not m["value"].get("invalid_at")]
    assert any("Porto" in text for text in texts) and not any("Lisbon" in t for t in texts)

    # Edit an operation before approving it.
    paused = await say_in_new_thread(lena, "I work at Initech.", approval="always")
    browser.find_element(By.ID, "refresh-approvals").click()
    wait_for(browser, status_says("approvals-status", "waits for your decision"))
    approval = browser.find_element(By.CSS_SELECTOR, f"article.approval[data-thread='{paused}']")
    approval.find_element(By.XPATH, ".//label[text()='Edit, then approve']").click()
    edit = approval.find_element(By.TAG_NAME, "textarea")
    edit.clear()
    edit.send_keys("The user works at Initrode.")
    approval.find_element(By.XPATH, ".//button[text()='Submit decisions']").click()
    wait_for(browser, status_says("approvals-status", "Nothing waits for approval"))
    texts = [m["value"]["text"] for m in await all_memories(lena)
             if m["value"].get("kind") != "episode"]
    assert "The user works at Initrode." in texts and not [t for t in texts if "Initech" in t]

    # Reject: nothing is written, and the run ends.
    paused = await say_in_new_thread(lena, "I work at Globex.", approval="always")
    browser.find_element(By.ID, "refresh-approvals").click()
    wait_for(browser, status_says("approvals-status", "waits for your decision"))
    approval = browser.find_element(By.CSS_SELECTOR, f"article.approval[data-thread='{paused}']")
    assert "Initrode" in approval.text  # the text it would replace
    approval.find_element(By.XPATH, ".//button[text()='Reject all']").click()
    wait_for(browser, status_says("approvals-status", "Nothing waits for approval"))
    assert (await lena.threads.get(paused))["status"] == "idle"
    texts = [m["value"]["text"] for m in await all_memories(lena)]
    assert "The user works at Initrode." in texts and not [t for t in texts if "Globex" in t]

    # Conversations: a thread's episodes, newest first.
    tab(browser, "conversations")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#threads [data-thread='{thread}']"))
    browser.find_element(By.CSS_SELECTOR, f"#threads [data-thread='{thread}']").click()
    wait_for(browser, status_says("episodes-status", "message"))
    episodes = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#episodes li")]
    assert len(episodes) == 4
    assert "I live in Lisbon." in episodes[1] and "I prefer green tea" in episodes[3]

    # Delete, after the browser's confirmation.
    tab(browser, "memories")
    browser.find_element(By.ID, "query").clear()
    browser.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait_for(browser, status_says("memories-status", "newest first"))
    card_with(browser, "Porto").find_element(By.XPATH, ".//button[text()='Delete']").click()
    browser.switch_to.alert.accept()
    wait_for(browser, status_says("memories-status", "Deleted"))
    assert not [c for c in cards(browser) if "Porto" in c.text]
    assert not [m for m in await all_memories(lena) if m["value"].get("kind") != "episode"
                and ("Porto" in m["value"]["text"] or "Lisbon" in m["value"]["text"])]


async def test_a_second_user_sees_none_of_the_first(
    browser: WebDriver, server: Server, client_for: Clients
) -> None:
    lena = client_for("lena")
    await say_in_new_thread(lena, "My favourite city is Kyoto.")
    await say_in_new_thread(lena, "I live in Oslo.", approval="always")

    signed_in_as(browser, server, "mona")
    assert cards(browser) == []
    assert "Nothing remembered yet" in text_of(browser, "memories-status")
    browser.find_element(By.ID, "query").send_keys("Kyoto")
    browser.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait_for(browser, status_says("memories-status", "No memory matches"))
    # The tabs work from the keyboard: arrows move between them, the panel follows.
    browser.find_element(By.ID, "tab-memories").send_keys(Keys.ARROW_RIGHT)
    assert browser.switch_to.active_element.get_attribute("id") == "tab-approvals"
    assert browser.find_element(By.ID, "panel-approvals").is_displayed()
    wait_for(browser, status_says("approvals-status", "Nothing waits for approval"))
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    wait_for(browser, status_says("threads-status", "No conversation kept yet"))
    assert not browser.find_element(By.ID, "tab-health").is_displayed()  # members have no health
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)  # skips the hidden Health tab
    assert browser.switch_to.active_element.get_attribute("id") == "tab-account"
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Kyoto" not in page and "Oslo" not in page and "lena" not in page


async def test_forget_me_needs_the_typed_confirmation(
    browser: WebDriver, server: Server, client_for: Clients
) -> None:
    lena = client_for("lena")
    await say_in_new_thread(lena, "I prefer trains to planes.")
    signed_in_as(browser, server, "lena")
    assert cards(browser)
    tab(browser, "account")
    button = browser.find_element(By.ID, "forget-button")
    confirm = browser.find_element(By.ID, "forget-confirm")
    confirm.send_keys("forget")
    assert not button.is_enabled()
    confirm.send_keys(" me")
    assert button.is_enabled()
    button.click()
    wait_for(browser, status_says("forget-status", "Erased"))
    assert await all_memories(lena) == []
    assert await lena.threads.search(limit=10) == []
    tab(browser, "memories")
    browser.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait_for(browser, status_says("memories-status", "Nothing remembered yet"))


async def test_an_admin_sees_retrieval_health(
    browser: WebDriver, server: Server, client_for: Clients
) -> None:
    judy = client_for("judy")
    await say_in_new_thread(judy, "What is the weather like?")
    signed_in_as(browser, server, "judy")
    tab(browser, "health")
    wait_for(browser, status_says("health-status", "Since this server process started"))
    tiles = {tile.find_element(By.TAG_NAME, "dt").text: tile.find_element(By.TAG_NAME, "dd").text
             for tile in browser.find_elements(By.CSS_SELECTOR, "#health > div")}
    assert int(tiles["Retrievals"]) >= 1
    assert tiles["Hit rate"].endswith("%") and tiles["Empty-retrieval rate"].endswith("%")
    assert tiles["Retrieval p50"].endswith(" ms")
    nodes = browser.find_element(By.ID, "node-latency").text
    assert "retrieve" in nodes and "write_memory" in nodes


async def test_conversations_are_labelled_by_how_they_opened(
    browser: WebDriver, server: Server, client_for: Clients
) -> None:
    uma = client_for("uma")
    first = await say_in_new_thread(uma, "We adopted a beagle called Biscuit on Saturday.")
    second = await say_in_new_thread(uma, "Can you suggest a vegetarian recipe for six people?")
    await say(uma, second, "I would like it to be spicy.")

    signed_in_as(browser, server, "uma")
    tab(browser, "conversations")
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#threads button")) == 2)
    labels = {b.get_attribute("data-thread"): b.text
              for b in browser.find_elements(By.CSS_SELECTOR, "#threads button")}
    assert "We adopted a beagle called Biscuit on Saturday." in labels[first]
    assert "Can you suggest a vegetarian recipe for six people?" in labels[second]
    assert labels[first] != labels[second]
    assert "Thread 0" not in labels[first] and "messages" in labels[second]


async def test_a_conversation_of_one_message_says_one_message(
    browser: WebDriver, server: Server
) -> None:
    token = token_for("vera")
    async with httpx.AsyncClient(base_url=server.url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        imported = await http.post("/engram/import", json={"sessions": [{
            "id": "one-line", "date": "2024-03-01T10:00:00Z",
            "messages": [{"role": "user", "content": "Just one note about the allotment."}]}]})
    assert imported.status_code == 200, imported.text

    signed_in_as(browser, server, "vera")
    tab(browser, "conversations")
    thread = "import:one-line"
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#threads [data-thread='{thread}']"))
    button = browser.find_element(By.CSS_SELECTOR, f"#threads [data-thread='{thread}']")
    assert button.text.endswith("· 1 message")
    button.click()
    wait_for(browser, status_says("episodes-status", "message"))
    assert text_of(browser, "episodes-status") == "1 message."


async def test_a_superseded_statement_is_marked_in_its_conversation(
    browser: WebDriver, server: Server, client_for: Clients
) -> None:
    zoe = client_for("zoe")
    paris = await say_in_new_thread(zoe, "I live in Paris, near the canal.")
    berlin = await say_in_new_thread(zoe, "I moved to Berlin last month.")

    signed_in_as(browser, server, "zoe")
    assert [c.find_element(By.CLASS_NAME, "text").text for c in cards(browser)] == [
        "The user lives in Berlin."]  # the superseded fact is history, not a memory
    tab(browser, "conversations")
    for thread, marked in ((paris, True), (berlin, False)):
        wait_for(browser, lambda d, t=thread: d.find_elements(
            By.CSS_SELECTOR, f"#threads [data-thread='{t}']"))
        browser.find_element(By.CSS_SELECTOR, f"#threads [data-thread='{thread}']").click()
        wait_for(browser, status_says("episodes-status", "message"))
        [said] = [e for e in browser.find_elements(By.CSS_SELECTOR, "#episodes li.user")]
        badges = [b.text.lower() for b in said.find_elements(By.CLASS_NAME, "badge")]
        assert ("superseded" in badges) is marked, (said.text, badges)
