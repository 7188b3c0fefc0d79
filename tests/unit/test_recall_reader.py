"""bench/recall.py's LoCoMo reader: every question of a conversation searches that conversation."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import recall  # noqa: E402

LOCOMO = [{
    "sample_id": "conv-1",
    "conversation": {
        "speaker_a": "Caroline", "speaker_b": "Melanie",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Caroline", "dia_id": "D1:1", "text": "I went to a support group yesterday."},
            {"speaker": "Melanie", "dia_id": "D1:2", "text": "I painted a lake sunrise last year."},
        ],
        "session_2_date_time": "1:14 pm on 25 May, 2023",
        "session_2": [
            {"speaker": "Caroline", "dia_id": "D2:1", "text": "I am researching adoption agencies."},
            {"speaker": "Melanie", "dia_id": "D2:2", "text": "We took the kids camping at the beach."},
        ],
    },
    "qa": [
        {"question": "When did Caroline go to the support group?", "evidence": ["D1:1"],
         "category": 2},
        {"question": "What did Melanie paint?", "evidence": ["D1:2"], "category": 1},
        {"question": "Where did Melanie take the kids camping?", "evidence": ["D2:2"],
         "category": 1},
    ],
}]


def test_the_questions_of_one_conversation_share_its_history() -> None:
    questions = list(recall.locomo(LOCOMO))
    assert [q.evidence for q in questions] == [
        {("session_1", "0")}, {("session_1", "1")}, {("session_2", "1")}]
    assert {q.namespace_label for q in questions} == {"conv-1"}
    assert questions[1].sessions[0]["messages"][1] == {
        "role": "assistant", "name": "Melanie",
        "content": "Melanie: I painted a lake sunrise last year."}


def test_loosely_written_evidence_ids_are_read() -> None:
    assert recall._evidence_ids(["D1:3; D1:5", "D:11:26", "D2:4,D2:6", 7, "x"]) == [
        "D1:3", "D1:5", "D11:26", "D2:4", "D2:6"]


async def test_every_question_of_a_conversation_finds_its_evidence(
    tmp_path: Path, engram_env: dict[str, str], monkeypatch: Any
) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(LOCOMO))
    monkeypatch.setattr(recall, "fresh_database", _same_database)
    result = await recall.run(Namespace(data=data, limit=0, keep=False, cache=False, gist_words=0,
                                        context_words=None,
                                        lexical_weight=None, weights=[]))
    assert result["questions"] == 3
    # Before the fix only the first question had a namespace with anything in it.
    assert result["overall"]["turn_recall@20"] == 1.0
    assert result["overall"]["session_recall_any@5"] == 1.0


class _same_database:  # noqa: N801 - stands in for the async context manager function
    """The test session's database (already in DATABASE_URL) instead of a new one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def __aenter__(self) -> tuple[str, str]:
        return "", ""

    async def __aexit__(self, *exc: object) -> None:
        return None
