# riverbed: `make demo` runs the main job on its embedded default, `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean kafka kafka-cache

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	@echo "installing riverbed and its test tools into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install --quiet -e '.[test]' > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/riverbed demo

test: $(STAMP)
	$(PY) -m pytest

# Apache Kafka (KRaft) on 127.0.0.1:9092 until Ctrl-C, data in runs/kafka; needs Java and
# Maven (jars and class archive made once in ~/.cache/riverbed/: kafka-cache makes only them).
kafka: $(STAMP)
	$(PY) -m tests.integration.apache_kafka

kafka-cache: $(STAMP)
	$(PY) -m tests.integration.apache_kafka --cache

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy operators online_models

clean:
	rm -rf $(VENV) runs *.egg-info
