# The two commands of the README. Both create (or reuse) the virtual environment .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test venv bench screenshots docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Opens LayerForge on a built-in example that trains on offline data.
run: venv
	$(BIN)/layerforge

test: venv
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider

bench: venv
	$(BIN)/python bench/compile_overhead.py
	$(BIN)/python bench/editor_scale.py
	$(BIN)/python bench/templates.py
	$(BIN)/python bench/gui_training.py
	$(BIN)/python bench/webcam_pipeline.py
	$(BIN)/python bench/export_formats.py
	$(BIN)/python -m bench.import_zoo
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/startup.py

# The README's screenshots, rendered from the running app.
# In a real X window (Xvfb) where there is one: offscreen grabs hide layout bugs.
screenshots: venv
	if command -v xvfb-run >/dev/null; then \
	  xvfb-run -a -s "-screen 0 1920x1200x24" env QT_QPA_PLATFORM=xcb \
	    $(BIN)/python -m app.screenshots resources/screenshots; \
	else $(BIN)/python -m app.screenshots resources/screenshots; fi

# The template guide pages (resources/docs/templates), generated from the templates themselves.
docs: venv
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m app.docs resources/docs

clean:
	rm -rf $(VENV) build *.egg-info
