"""Every Python example in the README and docs/ runs, as written, against a server like `serve`'s.

The server is started with the dev tokens `scripts/dev.py serve` prints (`dev-alice`, `dev-bob`)
on a database of its own; the only change made to an example is the address of that server in
place of `http://127.0.0.1:2024`. Each example runs as the body of a coroutine (they use
top-level `await`, as in a notebook), and what it prints is kept for the checks below.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Server

pytestmark = pytest.mark.e2e
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def dev_tokens() -> str:
    spec = importlib.util.spec_from_file_location("engram_dev", ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return str(script.DEV_TOKENS)


def examples() -> list[tuple[str, str]]:
    found = [(f"{page.relative_to(ROOT)}#{index}", code) for page in PAGES
             for index, code in enumerate(EXAMPLE.findall(page.read_text()))]
    assert found, "the docs have Python examples"
    return found


@pytest.fixture(scope="module")
def docs_server(engram_env: dict[str, str], new_database: Callable[[], str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("docs-server"), {
        **engram_env, "DATABASE_URL": new_database(), "ENGRAM_AUTH": "dev",
        "ENGRAM_DEV_TOKENS": dev_tokens()})
    running.start()
    yield running
    running.stop()


async def run_example(code: str, server: Server) -> str:
    """Run one example as a coroutine's body; return what it printed."""
    source = "async def example():\n" + textwrap.indent(
        code.replace("http://127.0.0.1:2024", server.url), "    ")
    namespace: dict[str, object] = {}
    exec(compile(source, "<example>", "exec"), namespace)  # noqa: S102 - the docs' own code
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        await namespace["example"]()  # type: ignore[operator]
    return printed.getvalue()


@pytest.mark.parametrize(("where", "code"), examples(), ids=[w for w, _ in examples()])
async def test_the_example_runs(where: str, code: str, docs_server: Server,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEM0_TELEMETRY", "false")  # Mem0's client, in docs/mem0.md
    monkeypatch.setenv("MEM0_DIR", tempfile.mkdtemp(prefix="engram-docs-mem0-"))
    printed = await run_example(code, docs_server)
    if where == "README.md#0":  # the first conversation does what the README says it does
        answer, asked, kept = printed.splitlines()
        assert answer.startswith("From what I remember: The user prefers aisle seats on planes.")
        assert "The user prefers window seats on trains." in asked  # waiting for approval
        assert "The user prefers window seats on trains." in kept  # written once approved
        assert "The user prefers aisle seats on planes." in kept


def test_the_readme_is_a_short_first_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 6_000
    for link in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        assert (ROOT / link).is_file(), link
    for page in PAGES[1:]:
        for link in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            assert (page.parent / link).resolve().exists(), f"{page.name}: {link}"


def test_every_page_says_what_it_covers() -> None:
    for page in PAGES[1:]:
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# ") and lines[2].strip(), page.name
        assert not Path(page).read_text().startswith("##"), page.name
