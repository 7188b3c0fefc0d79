"""Generate two-person conversations with questions, in LoCoMo's format, for bench/recall.py.

Two friends talk over many dated sessions; both state facts about themselves, in between
small talk that shares their words. Each question names its evidence turns (`dia_id`s):
- single-hop: one statement, asked in other words than it was said;
- meaning: the question shares no content word with its evidence (a greyhound is a dog);
- multi-hop: two statements of different sessions, both needed (who the sister is, where she
  moved);
- temporal: when something happened (the answer is the session's date).
Deterministic for a seed. Only public-domain words; nothing is downloaded.

    .venv/bin/python bench/two_person.py --out .engram/two_person.json
    .venv/bin/python bench/recall.py --data .engram/two_person.json
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import emit

NAMES = [("Ana", "Ben"), ("Carla", "Dev"), ("Eli", "Farah"), ("Gus", "Hana"), ("Ivo", "Jun"),
         ("Kemal", "Lise")]
CITIES = ["Porto", "Lyon", "Graz", "Bergen", "Cork", "Leipzig", "Bilbao", "Turku", "Ghent", "Split"]
RELATIVES = ["sister", "brother", "cousin", "aunt", "uncle"]
PEOPLE = ["Lena", "Marco", "Sofia", "Tomas", "Irene", "Pavel", "Nadia", "Oskar"]
# (what was said, question, words of the answer): {who} is the speaker's name.
SINGLE = [
    ("I finally adopted a greyhound, we named him {x}.", "What is the name of {who}'s dog?",
     ["Biscuit", "Pepper", "Comet", "Maple"]),
    ("I started a new job as a {x} at the hospital last month.", "What does {who} do for work?",
     ["radiographer", "pharmacist", "dietitian", "midwife"]),
    ("My favourite thing to cook lately is {x}, I make it every Sunday.",
     "Which dish does {who} prepare on weekends?", ["shakshuka", "ramen", "paella", "moussaka"]),
    ("I bought a second-hand {x} and I ride it to work now.",
     "How does {who} get to the office?", ["cargo bike", "scooter", "tandem", "e-bike"]),
    ("We booked flights to {x} for the autumn holidays.", "Where is {who} travelling this fall?",
     ["Lisbon", "Kyoto", "Oaxaca", "Tbilisi"]),
    ("I'm allergic to {x}, so I always check the menu twice.",
     "What food can {who} not eat?", ["peanuts", "shellfish", "sesame", "kiwi"]),
]
MEANING = [
    ("I've been learning to throw pots on a wheel on Thursday evenings.",
     "What craft has {who} taken up?"),
    ("My knee surgery went well, the physio says I can jog again in spring.",
     "How is {who} recovering from the operation?"),
    ("We finally paid off the mortgage on our flat.",
     "Does {who} still owe money on the apartment?"),
    ("I sing alto in a choir that rehearses in an old church.",
     "Is {who} part of any musical group?"),
    ("Our daughter took her first steps at the weekend.",
     "What milestone did {who}'s baby reach?"),
]
TEMPORAL = [
    ("Today I signed up for my first marathon.", "When did {who} register for the marathon?"),
    ("I just moved into the new place this morning, boxes everywhere.",
     "When did {who} move house?"),
    ("I passed my driving test today!", "When did {who} get a driving licence?"),
]
SMALL_TALK = [
    "How was your week?", "Not bad, work was busy but fine.", "Did you watch the match?",
    "The weather has been awful, rain every day.", "I tried that new bakery near the station.",
    "We should go for a walk by the river soon.", "My phone keeps dying, I need a new one.",
    "Have you read anything good lately?", "I'm so tired, the neighbours had a party.",
    "The kids have a school trip to the museum next week.", "Work wants me to travel more.",
    "I cooked too much pasta again, as always.", "The dog next door barks all night.",
    "Traffic in the city is getting worse.", "I need a holiday, honestly.",
    "Did you hear the concert in the park was cancelled?", "My sister called, all is well.",
    "I'm thinking about painting the kitchen.", "The new series everyone talks about is slow.",
    "I ran into an old friend at the market.", "Coffee prices went up again.",
]


def _moment(when: datetime) -> str:
    """LoCoMo's "06:30 PM on 9 January, 2023"."""
    return f"{when:%I:%M %p} on {when.day} {when:%B}, {when.year}"


def conversation(rng: random.Random, index: int, sessions: int) -> dict[str, Any]:
    """One conversation of `sessions` dated sessions and its questions."""
    a, b = NAMES[index % len(NAMES)]
    start = datetime(2023, 1, 9, 18, 30) + timedelta(days=rng.randint(0, 300))
    days = sorted(rng.sample(range(sessions * 12), sessions))
    turns: list[list[dict[str, str]]] = [[] for _ in range(sessions)]
    asked: list[tuple[str, str, list[dict[str, str]]]] = []

    def place(session: int, speaker: str, text: str) -> dict[str, str]:
        turns[session].append({"speaker": speaker, "text": text})
        return turns[session][-1]

    for session in range(sessions):  # small talk first; statements go among it
        for turn, text in enumerate(rng.sample(SMALL_TALK, rng.randint(8, 14))):
            place(session, a if turn % 2 == 0 else b, text)
    for who in (a, b):
        for said, question, values in rng.sample(SINGLE, 4):
            asked.append((question.format(who=who), "single-hop", [
                place(rng.randrange(sessions), who, said.format(x=rng.choice(values)))]))
        for said, question in rng.sample(MEANING, 3):
            asked.append((question.format(who=who), "meaning",
                          [place(rng.randrange(sessions), who, said)]))
        for said, question in rng.sample(TEMPORAL, 2):
            asked.append((question.format(who=who), "temporal",
                          [place(rng.randrange(sessions), who, said)]))
        person, relative = rng.choice(PEOPLE), rng.choice(RELATIVES)
        first, second = sorted(rng.sample(range(sessions), 2))
        asked.append((f"Which city did {who}'s {relative} move to?", "multi-hop", [
            place(first, who, f"My {relative} {person} is visiting us this weekend."),
            place(second, who, f"{person} got the job and moved to {rng.choice(CITIES)}.")]))
    sample: dict[str, Any] = {"speaker_a": a, "speaker_b": b}
    dia_ids: dict[int, str] = {}
    for session in range(sessions):
        rng.shuffle(turns[session])  # statements land anywhere in the small talk
        name = f"session_{session + 1}"
        sample[f"{name}_date_time"] = _moment(start + timedelta(days=days[session]))
        sample[name] = []
        for number, line in enumerate(turns[session], start=1):
            dia_ids[id(line)] = f"D{session + 1}:{number}"
            sample[name].append({**line, "dia_id": dia_ids[id(line)]})
    qa = [{"question": question, "category": category,
           "evidence": [dia_ids[id(turn)] for turn in evidence]}
          for question, category, evidence in asked]
    return {"sample_id": f"two-person-{index}", "conversation": sample, "qa": qa}


def main() -> None:
    """Write the file; one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".engram/two_person.json"))
    parser.add_argument("--conversations", type=int, default=6)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    data = [conversation(rng, i, args.sessions) for i in range(args.conversations)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1))
    emit({"bench": "two_person", "path": str(args.out), "conversations": len(data),
          "questions": sum(len(d["qa"]) for d in data),
          "turns": sum(len(v) for d in data for k, v in d["conversation"].items()
                       if k.startswith("session_") and not k.endswith("date_time"))})


if __name__ == "__main__":
    main()
