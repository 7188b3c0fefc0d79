# Every target goes through scripts/dev.py, which needs only Python 3.11+.
PYTHON ?= python3

.PHONY: setup run test lint bench

setup:
	$(PYTHON) scripts/dev.py setup

run:
	$(PYTHON) scripts/dev.py serve

test:
	$(PYTHON) scripts/dev.py test

bench: setup
	.venv/bin/python bench/embeddings.py
	.venv/bin/python bench/retrieval.py
	.venv/bin/python bench/turn.py
	.venv/bin/python bench/recall.py
	.venv/bin/python bench/scrub.py
	.venv/bin/python bench/summaries.py
