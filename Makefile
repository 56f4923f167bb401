# Kefu — `make run` starts everything, `make test` runs the whole suite.
PYTHON_310 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /root/.pyenv/versions/3.10*/bin/python3.10; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
# Debian packages: TTS voice, audio conversion (AMR via sox), browser + CJK font for web tests, Redis for CI.
APT_PACKAGES := espeak-ng ffmpeg sox libsox-fmt-all chromium fonts-wqy-microhei redis-server

.PHONY: install system-deps train run test fuzz soak

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON_310)" || { echo "Python 3.10 is required (Rasa 3.6 needs <3.11): pyenv install 3.10"; exit 1; }
	@$(MAKE) --no-print-directory system-deps
	test -x $(VENV)/bin/python || $(PYTHON_310) -m venv $(VENV)
	$(VENV)/bin/pip install -q "pip<25" wheel "setuptools<71"
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $@

system-deps:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "Please install these Debian packages: $(APT_PACKAGES)"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; }

train: install
	$(VENV)/bin/kefu train

run: install
	$(VENV)/bin/kefu run

test: install
	$(VENV)/bin/python -m pytest

# Long fuzzing (thousands of inputs per parser and endpoint); `make test` runs a small budget.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/python -m pytest tests/fuzz -q

# Mixed chat/WeChat/phone traffic with a server kill and a Redis restart; prints lost messages (must be 0).
soak: install
	$(VENV)/bin/python bench/soak.py
