# moongate build. `make` builds ./moongate and the mock provider; `make test`
# installs missing Debian packages, builds and runs every test; SAN=1 builds
# everything with AddressSanitizer + UBSan into build/san instead.

PKGS    := libevent libevent_pthreads libevent_openssl luajit openssl
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wno-unused-parameter
ifeq ($(SAN),1)
BUILD   := build/san
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   := build/rel
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARN) -D_GNU_SOURCE -Iruntime $(PKG_CFLAGS) -MMD -MP
LIBS       = $(PKG_LIBS) -lhttp_parser -lpthread -lm $(LDSAN)

RT_SRC   := $(wildcard runtime/*.c)
RT_OBJ   := $(RT_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ  := $(filter-out $(BUILD)/runtime/main.o,$(RT_OBJ))
MOCK_SRC := $(wildcard mock/*.c)
MOCK_OBJ := $(MOCK_SRC:%.c=$(BUILD)/%.o)
UT_SRC   := $(wildcard tests/unit/test_*.c)
UT_BIN   := $(UT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test test-unit test-lua test-integration test-bench bench clean
all: $(BUILD)/moongate $(BUILD)/moongate-mock $(UT_BIN)
ifneq ($(SAN),1)
all: moongate
moongate: $(BUILD)/moongate
	cp $< $@.tmp && mv -f $@.tmp $@
endif

$(BUILD)/moongate: $(RT_OBJ)
	$(CC) -o $@ $^ $(LIBS)
$(BUILD)/moongate-mock: $(MOCK_OBJ)
	$(CC) -o $@ $^ $(LIBS)
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $^ $(LIBS)
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

deps:
	@sh tools/deps.sh

# One command for a newcomer: packages, build, gateway on 127.0.0.1:8080
# (with the mock provider on 127.0.0.1:9001 when no provider key is set).
run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh tools/test.sh

test-unit test-lua test-integration test-bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) ONLY=$(@:test-%=%) sh tools/test.sh

# The benchmark side by side with nginx and Portkey (about 6 minutes); writes
# bench/RESULTS.md and bench/chart.svg.
bench: deps
	@sh bench/run.sh

clean:
	rm -rf build moongate

-include $(RT_OBJ:.o=.d) $(MOCK_OBJ:.o=.d)

# ---- fuzzing: libFuzzer targets in fuzz/ (clang, installed on demand by
# fuzz/deps.sh, so `make test` never needs it). FUZZ_SECONDS per target
# (default 60); fuzz-smoke runs 10 s each and ends with "fuzz: N passed, N failed".
.PHONY: fuzz fuzz-smoke fuzz-build
fuzz fuzz-smoke fuzz-build:
	@sh fuzz/deps.sh
	@$(MAKE) --no-print-directory -f fuzz/Makefile $@

# ---- soak: a million mixed requests (streams, client disconnects, injected
# upstream faults) with a SIGHUP every second; gateway RSS start vs end and
# failures by cause (about 2 minutes; not part of `make test`). Ends with
# "soak: N passed, N failed". SOAK_ARGS=--quick runs 50,000 requests.
.PHONY: soak
soak: all
	@test -x build/rel/sseload || { mkdir -p build/rel && cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE $$(pkg-config --cflags libevent) bench/sseload.c -o build/rel/sseload $$(pkg-config --libs libevent) -lm; }
	/usr/bin/python3 soak/soak.py --moongate-bin $(BUILD)/moongate --mock-bin $(BUILD)/moongate-mock $(SOAK_ARGS)
