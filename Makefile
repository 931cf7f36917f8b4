# MacroQuant — the two commands a new user runs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
MQ := $(BIN)/macroquant

# Airflow keeps its own metadata (SQLite) under MacroQuant's home; DAGs come from dags/.
export MACROQUANT_HOME ?= $(HOME)/.macroquant
export AIRFLOW_HOME ?= $(MACROQUANT_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export GX_ANALYTICS_ENABLED := False

# The demo replays the bundled history: seed everything before the window, then let the
# daily DAG ingest, validate and trade the window itself in one Airflow run.
DEMO_START ?= 2012-03-01
DEMO_END ?= 2013-02-28

.PHONY: help install setup demo test lint airflow dashboard clean-state

help:
	@echo "make demo       set up everything and run the daily pipeline over the bundled history"
	@echo "make test       set up and run the whole test suite"
	@echo "make airflow    start Airflow (api-server, scheduler, dag-processor) on 127.0.0.1:8080"
	@echo "make dashboard  start the Streamlit dashboard on 127.0.0.1:8501"
	@echo "make lint       ruff and the import contract (lint-imports)"

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required (python3.11 not found)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "MacroQuant needs Python 3.11; $(PYTHON) is $$($(PYTHON) --version)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "Installing the pinned dependency set (requirements.txt); this takes a few minutes the first time."
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

install: $(VENV)/.installed

setup: install
	$(MQ) db migrate
	$(BIN)/airflow db migrate > $(MACROQUANT_HOME)/airflow-migrate.log 2>&1 || \
	  { tail -30 $(MACROQUANT_HOME)/airflow-migrate.log; exit 1; }

# `macroquant demo` checks the dates (an error names DEMO_START / DEMO_END), loads the
# history before the window, runs the DAG over it and prints the summary. If the paper
# account already traded past the window, it runs on a database of its own and says so.
demo: setup
	$(MQ) demo --start '$(DEMO_START)' --end '$(DEMO_END)'

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# airflow_local migrates Airflow's own database itself: not `setup`, which would migrate it twice
airflow: install
	$(MQ) db migrate
	$(BIN)/python -m macroquant.airflow_local

dashboard: install
	$(BIN)/streamlit run streamlit_app/app.py --server.address 127.0.0.1 --server.port 8501 \
	  --server.headless true --browser.gatherUsageStats false
