"""Memory in use: histories replayed through the graph, questions asked again and again.

The import benchmarks (bench/recall.py) cannot see what use does to memory: Engram's own answers
and the user's questions are stored too. Here each history of the LongMemEval dev slice is
replayed through the compiled graph with the service's checkpointer and store (as bench/turn.py
drives it): each session a thread, the history's user turns as input, the configured responder
(offline by default) answering, its answers stored like any turn. Then every question is asked
three times, each time in a new thread, and per round are reported:
- turn recall@10 of the `has_answer` user turns among the retrieve node's memories
  (`memory_limit` 10);
- the share of those memories that are restatements (assistant answers to the benchmark's
  questions, or any episode carrying the offline responder's "From what I remember") or repeated
  questions (the user's episodes from earlier rounds);
- memory tokens in the prompt (what the responder saw: facts and quoted episodes).
Beside it, in the same run, the same histories are imported into another namespace through the
import path and the same questions searched there (recall@10).

To fit a run in about 20 minutes here, each history keeps its evidence sessions and
`--distractors` other sessions (chosen per question with a fixed seed), and the
single-session-assistant questions are left out (the replayed answers are not the recorded ones).

Then the supersede-and-forget scenarios (`--scenarios`, at least 50): a user states a fact, then
changes it, then forgets it, each in its own thread, in several phrasings, through the graph.
After the change the question is asked and searched through the retrieve node, the store's
search (what the HTTP API's `search_items` runs) and the console's and MCP's search
(`agent.memory.read.browse.search`): the current value must rank above every older statement of it,
and no older statement may be unmarked. After the forget, the forgotten values (the current and
the superseded one) must appear in no result of any path.

    .venv/bin/python bench/live.py --data ../shared/data/longmemeval_s_dev60.json.gz

Progress goes to stderr, the result is one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import ROOT, default_data_dir, emit, fresh_database, log, machine, offline_env

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from recall import Question, _open, longmemeval, ranked_turns  # noqa: E402

K = 10
ECHO_MARK = "From what I remember"
GOALS = {"round3_within_round1": 0.01, "round1_within_import": 0.02, "noise_share_max": 0.10}


def subset(question: Question, distractors: int) -> list[dict[str, Any]]:
    """The question's evidence sessions and `distractors` others, in their original order."""
    evidence = {sid for sid, _ in question.evidence} | question.evidence_sessions
    others = [s["id"] for s in question.sessions if s["id"] not in evidence]
    chosen = set(random.Random(question.id).sample(others, min(distractors, len(others))))
    return [s for s in question.sessions if s["id"] in evidence | chosen]


class User(dict[str, Any]):
    """The authenticated user a run sees (identity plus our claims), as the server passes it."""

    @property
    def identity(self) -> str:
        """The user's id."""
        return str(self["identity"])


def identity_for(label: str) -> User:
    return User(identity=f"live-{hashlib.sha1(label.encode()).hexdigest()[:12]}", org_id="bench")


async def replay(graph: Any, user: User, session: dict[str, Any],
                 turns: dict[tuple[str, str], tuple[str, str]]) -> int:
    """Send a session's user turns to a thread of their own; map their message ids to turns."""
    from langchain_core.messages import HumanMessage

    thread = f"live-{uuid.uuid4().hex[:12]}"
    config = {"configurable": {"thread_id": thread, "langgraph_auth_user": user}}
    sent = []
    for index, message in enumerate(session["messages"]):
        if message["role"] != "user" or not message["content"].strip():
            continue
        result = await graph.ainvoke(
            {"messages": [{"role": "user", "content": message["content"][:32_000]}]}, config)
        human = [m for m in result["messages"] if isinstance(m, HumanMessage)][-1]
        turns[(thread, str(human.id))] = (session["id"], str(index))
        sent.append(index)
    return len(sent)


async def ask(graph: Any, store: Any, user: User, text: str, question_threads: set[str],
              turns: dict[tuple[str, str], tuple[str, str]]) -> dict[str, Any]:
    """Ask in a new thread; what the retrieve node found, classified, and the prompt's memory."""
    from langchain_core.messages.utils import count_tokens_approximately

    from agent.memory.model.schema import Identity, memory_namespace

    thread = f"live-q-{uuid.uuid4().hex[:12]}"
    config = {"configurable": {"thread_id": thread, "langgraph_auth_user": user}}
    result = await graph.ainvoke({"messages": [{"role": "user", "content": text}]}, config,
                                 context={"memory_limit": K})
    question_threads.add(thread)
    namespace = memory_namespace(Identity(user.identity, user["org_id"]))
    items = await asyncio.gather(*(store.aget(namespace, m["key"]) for m in result["memories"]))
    found, noise = [], 0
    for item in items:
        if item is None:
            continue
        value = item.value
        source = value.get("source") or {}
        asked_here = source.get("thread_id") in question_threads
        repeat = value.get("kind") == "episode" and value.get("role") == "user" and asked_here
        echo = (value.get("kind") == "episode" and value.get("role") == "assistant" and asked_here
                ) or ECHO_MARK in str(value.get("text", ""))
        noise += repeat or echo
        found.append(turns.get((str(source.get("thread_id")), str(source.get("message_id")))))
    seen = result["messages"][-1].response_metadata.get("seen", {})
    lines = [*seen.get("memories", []), *seen.get("episodes", [])]
    return {"turns": found, "noise": noise, "retrieved": len(items),
            "memory_tokens": count_tokens_approximately(["\n".join(lines)]) if lines else 0}


def recall(found: list[Any], question: Question) -> float:
    top = {t for t in found[:K] if t is not None}
    return len(question.evidence & top) / len(question.evidence)


async def use_and_import(args: argparse.Namespace, graph: Any, store: Any) -> dict[str, Any]:
    """Replay every history, ask every question for `--rounds` rounds; import beside it."""
    from agent.context import Context
    from agent.memory.model.schema import Identity, memory_namespace
    from agent.memory.read.retrieval import search_memories
    from agent.memory.write.importer import import_sessions, parse_sessions
    from agent.memory.write.turns import extractor

    data = _open(args.data)
    if not data or "haystack_sessions" not in data[0]:
        raise SystemExit(f"{args.data} is not a LongMemEval file: bench/live.py replays "
                         "LongMemEval histories (LoCoMo files go to bench/recall.py)")
    questions = [q for q in longmemeval(data) if q.type != "single-session-assistant"]
    questions = questions[: args.questions] if args.questions else questions
    rounds: dict[int, list[dict[str, Any]]] = defaultdict(list)
    imported: list[float] = []
    users, turns_sent, began = {}, 0, time.perf_counter()
    turns: dict[tuple[str, str], tuple[str, str]] = {}
    for number, question in enumerate(questions, 1):
        sessions = subset(question, args.distractors)
        users[question.id] = identity_for(question.id)
        for session in sessions:
            turns_sent += await replay(graph, users[question.id], session, turns)
        other = Identity(f"import-{users[question.id].identity}", "bench")
        await import_sessions(store, other, parse_sessions({"sessions": sessions}), extractor(None))
        await store.fill_vectors()  # as the import command does before it returns
        ranked = await search_memories(store, [memory_namespace(other)], question.text, limit=K,
                                       min_relevance=Context().min_relevance)
        found = [tuple(t.split("#", 1)) for t in ranked_turns(ranked)]
        imported.append(recall(found, question))
        log(f"{number}/{len(questions)} {question.type}: {len(sessions)} sessions replayed "
            f"({turns_sent} turns so far, {time.perf_counter() - began:.0f} s)")
    # The questions come after the histories' episodes have their vectors (the worker fills
    # them within moments of each turn; here it settles whatever the last turns left queued).
    await store.fill_vectors()
    question_threads: set[str] = set()
    for round_ in range(1, args.rounds + 1):
        for question in questions:
            asked = await ask(graph, store, users[question.id], question.text, question_threads,
                              turns)
            rounds[round_].append({"recall": recall(asked["turns"], question), **asked})
        log(f"round {round_}: recall@10 {mean(r['recall'] for r in rounds[round_]):.3f}")
    per_round = {
        str(r): {"turn_recall@10": round(mean(x["recall"] for x in rows), 3),
                 "restatements_and_repeats_share": round(
                     sum(x["noise"] for x in rows) / max(sum(x["retrieved"] for x in rows), 1), 3),
                 "memory_tokens_per_prompt": round(mean(x["memory_tokens"] for x in rows), 1)}
        for r, rows in sorted(rounds.items())}
    import_recall = round(mean(imported), 3)
    first, last = per_round["1"], per_round[str(args.rounds)]
    goals = {
        "round3_within_0.01_of_round1": last["turn_recall@10"] >= first["turn_recall@10"] - 0.01,
        "round1_within_0.02_of_import": first["turn_recall@10"] >= import_recall - 0.02,
        "noise_at_most_10%_every_round": all(
            r["restatements_and_repeats_share"] <= GOALS["noise_share_max"]
            for r in per_round.values()),
        "memory_tokens_not_growing": last["memory_tokens_per_prompt"]
        <= first["memory_tokens_per_prompt"],
    }
    return {"questions": len(questions), "replayed_turns": turns_sent,
            "distractor_sessions": args.distractors, "rounds": per_round,
            "import_turn_recall@10": import_recall, "goals_met": goals,
            "seconds": round(time.perf_counter() - began, 1)}


def mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


# Facts stated, changed and forgotten: (question, statements, changes, forgets, values).
FAMILIES: list[tuple[str, list[str], list[str], list[str], list[str]]] = [
    ("Where do I live?", ["I live in {v}.", "I'm based in {v}.", "I reside in {v}."],
     ["I moved to {v} last month.", "I now live in {v}.", "I've just moved to {v}."],
     ["Forget that I live in {v}.", "Please forget that I live in {v}."],
     ["Paris", "Berlin", "Oslo", "Lisbon", "Porto", "Madrid", "Vienna", "Prague", "Dublin",
      "Warsaw", "Helsinki", "Zurich", "Krakow", "Seville", "Ghent", "Turin"]),
    ("Where do I work?", ["I work at {v}.", "I work for {v}."],
     ["I work at {v} now.", "I work for {v} these days."],
     ["Forget that I work at {v}.", "Please forget that I work for {v}."],
     ["Initech", "Globex", "Umbrella", "Hooli", "Vandelay", "Soylent", "Cyberdyne", "Tyrell",
      "Wonka", "Acme"]),
    ("What is my favourite colour?", ["My favourite colour is {v}."],
     ["My favourite colour is {v} now."], ["Forget that my favourite colour is {v}."],
     ["vermilion", "teal", "ochre", "magenta", "indigo", "saffron", "cobalt", "crimson"]),
    ("What is my name?", ["My name is {v}.", "Call me {v}."], ["Call me {v}.", "I go by {v}."],
     ["Forget that my name is {v}.", "Please forget that I go by {v}."],
     ["Ada", "Grace", "Linus", "Edsger", "Barbara", "Donald", "Frances", "Niklaus", "Radia",
      "Alan"]),
]


def scenarios(count: int) -> list[dict[str, str]]:
    """`count` scenarios, round robin over the families, phrasings and value pairs."""
    made = []
    for number in range(count):
        question, states, changes, forgets, values = FAMILIES[number % len(FAMILIES)]
        index = number // len(FAMILIES)
        old, new = values[(2 * index) % len(values)], values[(2 * index + 1) % len(values)]
        made.append({"question": question, "old": old, "new": new,
                     "state": states[index % len(states)].format(v=old),
                     "change": changes[index % len(changes)].format(v=new),
                     "forget": forgets[index % len(forgets)].format(v=new)})
    return made


def mentions(item: Any, value: str) -> bool:
    from agent.memory.text.restatement import content_words, stem

    return stem(value.lower()) in content_words(str(item.value.get("text", "")))


def is_marked(value: dict[str, Any]) -> bool:
    """Shown as history, not as current: a superseded text or an episode that stated it."""
    return bool(value.get("invalid_at") or value.get("superseded_by"))


async def paths(graph: Any, store: Any, user: User, query: str,
                through_graph: bool = True) -> dict[str, list[Any]]:
    """What each retrieval path returns for `query`, best first.

    The store's paths are read first: asking the graph is a turn, which is itself remembered.
    """
    from agent.memory.model.schema import Identity, memory_namespace, shared_namespace
    from agent.memory.read import browse

    identity = Identity(user.identity, user["org_id"])
    own = memory_namespace(identity)
    found = {
        "store search (HTTP search_items)": await store.asearch(own, query=query, limit=20),
        "console and MCP search": await browse.search(
            store, [own, shared_namespace(identity.org_id)], query, 20),
    }
    if through_graph:
        config = {"configurable": {"thread_id": f"probe-{uuid.uuid4().hex[:12]}",
                                   "langgraph_auth_user": user}}
        state = await graph.ainvoke({"messages": [{"role": "user", "content": query}]}, config)
        retrieved = await asyncio.gather(*(store.aget(own, m["key"]) for m in state["memories"]))
        found["retrieve node"] = [item for item in retrieved if item is not None]
    return found


async def supersede_and_forget(graph: Any, store: Any, count: int) -> dict[str, Any]:
    """State, change and forget facts in separate threads; check every path after each step."""
    ranked_first = total_ranked = unmarked_old = 0
    leaks: dict[str, int] = defaultdict(int)
    failures: list[dict[str, str]] = []

    async def say(user: User, text: str) -> None:
        config = {"configurable": {"thread_id": f"sc-{uuid.uuid4().hex[:12]}",
                                   "langgraph_auth_user": user}}
        await graph.ainvoke({"messages": [{"role": "user", "content": text}]}, config)

    for number, scenario in enumerate(scenarios(count)):
        user = identity_for(f"scenario-{number}-{uuid.uuid4().hex}")
        await say(user, scenario["state"])
        await say(user, scenario["change"])
        for path, found in (await paths(graph, store, user, scenario["question"])).items():
            new_at = next((i for i, item in enumerate(found) if mentions(item, scenario["new"])
                           and not is_marked(item.value)), None)
            old = [i for i, item in enumerate(found) if mentions(item, scenario["old"])]
            unmarked = [found[i] for i in old if not is_marked(found[i].value)]
            unmarked_old += len(unmarked)
            failures += [{"scenario": scenario["change"], "path": path,
                          "step": f"unmarked: {item.value.get('text')}"} for item in unmarked]
            total_ranked += 1
            if new_at is not None and all(new_at < i for i in old):
                ranked_first += 1
            else:
                failures.append({"scenario": scenario["change"], "path": path, "step": "change"})
        await say(user, scenario["forget"])
        for query in (scenario["new"], scenario["old"], scenario["question"]):
            # The values themselves are searched for, not said: saying one would store it anew.
            probe = await paths(graph, store, user, query, query == scenario["question"])
            for path, found in probe.items():
                hits = sum(mentions(item, v) for item in found
                           for v in (scenario["new"], scenario["old"]))
                leaks[path] += hits
                if hits:
                    failures.append({"scenario": scenario["forget"], "path": path,
                                     "step": f"forget, query {query!r}"})
    return {"scenarios": count, "paths_checked": total_ranked,
            "current_ranked_above_older_share": round(ranked_first / max(total_ranked, 1), 3),
            "older_statements_shown_unmarked": unmarked_old,
            "forgotten_value_in_results": dict(leaks),
            "goals_met": {"current_above_older_100%": ranked_first == total_ranked,
                          "forgotten_in_0_results": sum(leaks.values()) == 0},
            "failures": failures[:10]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agent.graph import builder
    from agent.stores import checkpointer, store

    async with fresh_database("live", data_dir=default_data_dir(), keep=args.keep), \
            checkpointer() as saver, store() as memory_store:
        graph = builder.compile(checkpointer=saver, store=memory_store)
        began = time.perf_counter()
        scenario_result = await supersede_and_forget(graph, memory_store, args.scenarios)
        log(f"scenarios: {scenario_result['goals_met']} in {time.perf_counter() - began:.0f} s")
        use = await use_and_import(args, graph, memory_store) if args.data else None
    return {"bench": "live", "data": args.data.name if args.data else None, "in_use": use,
            "supersede_and_forget": scenario_result, "machine": machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a LongMemEval file (the dev slice)")
    parser.add_argument("--questions", type=int, default=0, help="at most this many (0: all)")
    parser.add_argument("--distractors", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", type=int, default=60)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    offline_env()
    emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
