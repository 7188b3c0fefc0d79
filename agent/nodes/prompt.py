"""What the model is shown: memories and quoted episodes as prompt lines, within a budget.

And ADDED, where the agent node notes what an answer added beyond them (summaries and episodes
keep that part only, so restated memories never nest). Shared by the nodes; not a node.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from langchain_core.messages.utils import count_tokens_approximately

from agent.memory.model.episodes import is_episode
from agent.prompts import ASSISTANT_SAID, NO_MEMORIES, SUPERSEDED_SAID, SYSTEM_PROMPT, USER_SAID

MEMORY_SHARE = 4
EXCERPT_CHARS = 600
"""Longest quote of one episode in the prompt (long answers are cut, the opening kept)."""


def quoted(memory: dict[str, Any]) -> str:
    """An episode as one dated, quoted line: JSON quoting keeps its text from leaving the quote."""
    text = " ".join(str(memory.get("text", "")).split())
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " ..."
    said_at = str(memory.get("said_at", ""))
    try:
        moment = datetime.fromisoformat(said_at)
        date = f"{moment.day} {moment:%B %Y}"
    except ValueError:
        date = "an earlier day"
    template = (SUPERSEDED_SAID if memory.get("superseded_by")
                else ASSISTANT_SAID if memory.get("role") == "assistant" else USER_SAID)
    return template.format(date=date, quote=json.dumps(text, ensure_ascii=False))


def shown_lines(memories: list[dict[str, Any]], budget: int) -> tuple[list[str], list[str]]:
    """The fact and episode lines that fit the prompt's memory share, each group best first.

    Facts come first. What a later statement replaced comes after the current episodes, as
    dated history.
    """
    room = budget // MEMORY_SHARE - count_tokens_approximately([SYSTEM_PROMPT])
    facts = [str(m["text"]) for m in memories if not is_episode(m)]
    episodes = [quoted(m) for m in sorted((m for m in memories if is_episode(m)),
                                          key=lambda m: bool(m.get("superseded_by")))]
    # Each line is measured as the prompt shows it (a fact in its quotes).
    candidates = [(fact, fact_line(fact)) for fact in facts] + [(e, e) for e in episodes]
    shown: list[tuple[str, str]] = []
    for line in candidates:
        # A line that does not fit is left out; a shorter one after it may still fit.
        if count_tokens_approximately(["\n".join(f"- {x}" for _, x in [*shown, line])]) <= room:
            shown.append(line)
    return ([x for x, _ in shown if x in facts], [x for x, _ in shown if x in episodes])


def fact_line(text: str) -> str:
    """A fact as the prompt shows it: JSON-quoted, so its text cannot leave the line."""
    return json.dumps(text, ensure_ascii=False)


def system_prompt(memories: list[dict[str, Any]], summary: str, budget: int) -> str:
    """The system prompt for one turn: facts, then episodes, as many as fit the memory share."""
    return render_prompt(*shown_lines(memories, budget), summary)


def render_prompt(facts: list[str], episodes: list[str], summary: str) -> str:
    """The system prompt with these fact and episode lines and the running summary.

    Facts are JSON-quoted, as episodes are: whatever a memory's text holds stays inside its
    quote, one line of data.
    """
    return SYSTEM_PROMPT.format(
        memories="\n".join(f"- {fact_line(line)}" for line in facts) or NO_MEMORIES,
        episodes="\n".join(f"- {line}" for line in episodes) or NO_MEMORIES,
        summary=summary.strip() or NO_MEMORIES,
    )


ADDED = "engram_added"
"""The answer's `response_metadata` key holding what it added to what it was shown."""
