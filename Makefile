# Kefu — `make run` starts everything, `make test` runs the whole suite.
PYTHON_310 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /root/.pyenv/versions/3.10*/bin/python3.10; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
# Debian packages: TTS voice, audio conversion (AMR via sox), browser + CJK font for web tests, Redis for CI.
APT_PACKAGES := espeak-ng ffmpeg sox libsox-fmt-all chromium fonts-wqy-microhei redis-server

.PHONY: install system-deps train run test fuzz soak vendor-socketio

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

# Two test processes by default (pytest-xdist: 24:21 instead of 39:15 in one on CI's two cores,
# bench/RESULTS.md "Suite time, twenty-third pass"; README "make test"); TEST_WORKERS=0 runs one.
TEST_WORKERS ?= 2
test: install
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

# Long fuzzing (thousands of inputs per parser and endpoint); `make test` runs a small budget.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/python -m pytest tests/fuzz -q

# Mixed chat/WeChat/phone traffic with a server kill and a Redis restart; prints lost messages (must be 0).
soak: install
	$(VENV)/bin/python bench/soak.py

# The web chat page's Socket.IO client, vendored unmodified from the npm registry (no build step for the
# page): `make vendor-socketio SOCKET_IO_CLIENT=4.x.y` refreshes bot/web/chat/vendor/ (see its README.md).
SOCKET_IO_CLIENT := 4.8.4
SOCKET_IO_VENDOR := bot/web/chat/vendor
vendor-socketio:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && \
	  npm pack -q socket.io-client@$(SOCKET_IO_CLIENT) >/dev/null && mkdir client && tar xzf socket.io-client-*.tgz -C client && \
	  emitter=$$(node -p 'require("./client/package/package.json").dependencies["@socket.io/component-emitter"]') && \
	  npm pack -q "@socket.io/component-emitter@$$emitter" >/dev/null && mkdir emitter && tar xzf socket.io-component-emitter-*.tgz -C emitter && \
	  cp client/package/dist/socket.io.min.js "$(CURDIR)/$(SOCKET_IO_VENDOR)/socket.io.min.js" && \
	  cp client/package/LICENSE "$(CURDIR)/$(SOCKET_IO_VENDOR)/LICENSE" && \
	  cp emitter/package/LICENSE "$(CURDIR)/$(SOCKET_IO_VENDOR)/LICENSE.component-emitter" && \
	  sed -i -E 's/socket\.io-client@[0-9][0-9.]*/socket.io-client@$(SOCKET_IO_CLIENT)/' "$(CURDIR)/$(SOCKET_IO_VENDOR)/README.md" && \
	  head -2 "$(CURDIR)/$(SOCKET_IO_VENDOR)/socket.io.min.js" | tail -1
