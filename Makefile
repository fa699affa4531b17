# Thin wrappers over the scripts the README names.
.PHONY: run test build release goldens clean lib check-abi install

run:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

build:
	swift build

release:
	swift build -c release --product slm

goldens:
	bash scripts/make-goldens.sh

clean:
	rm -rf .build

# libslm (include/slm.h): libslm.so.$(ABI) + libslm.so, libslm.a and slm.pc in .build/libslm.
PREFIX ?= /usr/local
SWIFT_FLAGS ?=
LIBSLM := .build/libslm
# The soname's number is the header's SLM_ABI_VERSION.
ABI := $(shell sed -nE 's/^\#define SLM_ABI_VERSION ([0-9]+).*/\1/p' include/slm.h)

lib:
	PREFIX="$(PREFIX)" SWIFT_FLAGS="$(SWIFT_FLAGS)" bash scripts/build-libslm.sh

check-abi: lib
	bash scripts/check-abi.sh $(LIBSLM)

# Installs the libraries, header, pkg-config file and binaries (slm, and slmd with its systemd
# units when the daemon exists in this tree). DESTDIR is honoured for packaging.
install: lib
	swift build -c release $(SWIFT_FLAGS) --product slm
	@if grep -q '"slmd"' Package.swift; then swift build -c release $(SWIFT_FLAGS) --product slmd; fi
	install -d "$(DESTDIR)$(PREFIX)/lib/pkgconfig" "$(DESTDIR)$(PREFIX)/include" "$(DESTDIR)$(PREFIX)/bin"
	install -m 755 $(LIBSLM)/libslm.so.$(ABI) "$(DESTDIR)$(PREFIX)/lib/"
	ln -sf libslm.so.$(ABI) "$(DESTDIR)$(PREFIX)/lib/libslm.so"
	install -m 644 $(LIBSLM)/libslm.a "$(DESTDIR)$(PREFIX)/lib/"
	install -m 644 include/slm.h "$(DESTDIR)$(PREFIX)/include/"
	install -m 644 $(LIBSLM)/slm.pc "$(DESTDIR)$(PREFIX)/lib/pkgconfig/"
	bin="$$(swift build -c release $(SWIFT_FLAGS) --show-bin-path)"; \
	install -m 755 "$$bin/slm" "$(DESTDIR)$(PREFIX)/bin/"; \
	if [ -x "$$bin/slmd" ] && grep -q '"slmd"' Package.swift; then install -m 755 "$$bin/slmd" "$(DESTDIR)$(PREFIX)/bin/"; fi
	@units="$$(ls systemd/*.service systemd/*.socket 2>/dev/null || true)"; \
	if [ -n "$$units" ]; then \
		install -d "$(DESTDIR)$(PREFIX)/lib/systemd/system"; \
		for u in $$units; do sed "s|/usr/local|$(PREFIX)|g" "$$u" >"$(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u)"; done; \
	fi
