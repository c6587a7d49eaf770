.PHONY: quality style test test-slow

check_dirs := allmrec_hf examples tests benches

quality:
	ruff check $(check_dirs)
	ruff format --check $(check_dirs)

style:
	ruff check --fix $(check_dirs)
	ruff format $(check_dirs)

test:
	python -m pytest

test-slow:
	python -m pytest -m slow
