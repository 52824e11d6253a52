# Candor: two set-up commands on a fresh machine, `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= out/demo.mp4

# Debian packages: TTS engines with phoneme timings (corpus), OpenGL/GLib for OpenCV-contrib,
# ffmpeg for ad-hoc inspection, sox (tests resample and synthesise audio with an independent tool),
# chromium (the console's browser tests drive it through Playwright) and npm (fetches axe-core;
# Debian's npm only where no npm is on PATH: NodeSource's nodejs ships its own and conflicts with it).
# Installed only when missing and only where apt is usable.
APT_PACKAGES := espeak-ng libespeak-ng1 flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts libgl1 libglib2.0-0 ffmpeg sox chromium

# Real recorded speech for `candor corpus real` and benchmarks/lipsync_e2e.py (about 130 MB; not
# needed by demo or test): asterisk studio prompts in five languages (8 kHz) with the English
# prompt texts, LibriVox read speech with transcripts, codec2's speech samples.
REAL_SPEECH_PACKAGES := asterisk-core-sounds-en asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav \
  asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav pocketsphinx-testdata \
  codec2-examples

.PHONY: demo test lint system-deps install clean bench real-speech

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

real-speech:
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES="$(REAL_SPEECH_PACKAGES)"

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	@$(MAKE) --no-print-directory $(AXE)
	touch $(STAMP)

# axe-core (accessibility rules the console's browser tests run in each page), from the npm
# registry at install time; never downloaded at test time.
AXE := tests/console/vendor/axe.min.js
$(AXE):
	mkdir -p $(dir $(AXE))
	cd $(dir $(AXE)) && npm pack --silent axe-core@4 >/dev/null && tar xzf axe-core-*.tgz --strip-components=1 package/axe.min.js && rm -f axe-core-*.tgz

install: $(STAMP)

# The main job on embedded defaults: a bundled public-domain portrait speaks a bundled clip; the
# output is watermarked and carries signed Content Credentials, which `candor verify` checks.
demo: $(STAMP)
	$(BIN)/candor generate --image bundled:astronaut --audio candor/generator/data/demo_speech.wav \
	  -o $(DEMO_OUT) --contact-sheet $(basename $(DEMO_OUT)).png
	$(BIN)/candor verify $(DEMO_OUT)
	@echo "demo video: $(abspath $(DEMO_OUT))  (contact sheet: $(abspath $(basename $(DEMO_OUT)).png))"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check candor tests benchmarks
	$(BIN)/ruff format --check candor tests benchmarks

# Self-contained benchmarks (each prints its figures). detector_eval.py needs `candor detector
# dataset` first; watermark.py's full grid and ledger.py's million-entry log take several minutes.
BENCHES := render generate_speed motion_quality sign api_load detector_speed ledger watermark
bench: $(STAMP)
	for b in $(BENCHES); do echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache
