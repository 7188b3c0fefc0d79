# Every target goes through scripts/dev.py, which needs only Python 3.11+.
PYTHON ?= python3
# A LongMemEval or LoCoMo file for bench/recall.py (public data, not in the repository).
RECALL_DATA ?=

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
	.venv/bin/python bench/turn_profile.py
	$(if $(RECALL_DATA),.venv/bin/python bench/recall.py --data $(RECALL_DATA),@echo "bench/recall.py skipped: set RECALL_DATA=<LongMemEval or LoCoMo file>")
	.venv/bin/python bench/live.py $(if $(RECALL_DATA),--data $(RECALL_DATA),)
	.venv/bin/python bench/scrub.py
	.venv/bin/python bench/neighbour.py
	.venv/bin/python bench/two_person.py --out .engram/two_person.json
	.venv/bin/python bench/recall.py --data .engram/two_person.json
	.venv/bin/python bench/summaries.py
