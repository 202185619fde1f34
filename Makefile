# trainval — one non-recursive Makefile.
#   make            bin/train, bin/eval
#   make test       set-up if needed, format check, unit tests (cmocka), integration tests (shell, real binaries)
#   make asan       the same tests built with AddressSanitizer + UBSan (in build-asan/)
#   make bench      speed benchmark (reports figures; never pass/fail on a timing)
#   make accuracy   trains the example configs to the end, reports test accuracy (long)
#   make demo       set-up if needed, train configs/fashion_mlp.yaml with eval, print results
#   make format / format-check

CC      ?= cc
CFLAGS  ?= -O2 -g
B       ?= build
BIN     ?= bin
PKGS    := openblas hdf5 yaml-0.1 zlib
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(WARN) -D_GNU_SOURCE -fno-math-errno -fvect-cost-model=dynamic -Iinclude -Icommon $(PKG_CFLAGS) $(CFLAGS) $(XCFLAGS) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(XLDFLAGS)

LIB_SRC   := $(sort $(wildcard common/*/*.c common/*/*/*.c))
TRAIN_SRC := $(sort $(wildcard train/*.c))
EVAL_SRC  := $(sort $(wildcard eval/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(sort $(wildcard tests/*.c)))

LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
TRAIN_OBJ := $(TRAIN_SRC:%.c=$(B)/%.o)
EVAL_OBJ  := $(EVAL_SRC:%.c=$(B)/%.o)
SUP_OBJ   := $(TEST_SUPPORT:%.c=$(B)/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(B)/tests/%)
LIB       := $(B)/libtrainval.a

.PHONY: all test unit integration asan bench accuracy demo setup format format-check clean install
all: $(BIN)/train $(BIN)/eval

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/train: $(TRAIN_OBJ) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BIN)/eval: $(EVAL_OBJ) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(B)/tests/%: $(B)/tests/%.o $(SUP_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcmocka

# The set-up script is idempotent and quick when everything is present.
setup:
	@sh scripts/setup.sh

unit: all $(TEST_BIN)
	@sh tests/run_unit.sh $(TEST_BIN)

integration: all
	@BIN=$(abspath $(BIN)) sh tests/run_integration.sh

test: setup
	@$(MAKE) --no-print-directory format-check unit integration

asan: setup
	@$(MAKE) --no-print-directory B=build-asan BIN=build-asan/bin CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  XCFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" unit integration

bench: setup all
	@sh scripts/bench.sh

demo: setup all
	@sh scripts/demo.sh

# Trains the example configs to the end and reports test accuracy (long: ~15 min for the CNN).
accuracy: setup all
	@sh scripts/accuracy.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN)/train $(DESTDIR)$(PREFIX)/bin/trainval-train
	install -m 755 $(BIN)/eval $(DESTDIR)$(PREFIX)/bin/trainval-eval
PREFIX ?= /usr/local

FORMAT_FILES = $(wildcard include/trainval/*.h common/*/*.c common/*/*.h common/*/*/*.c common/*/*/*.h train/*.c train/*.h eval/*.c eval/*.h tests/*.c tests/*.h)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files clean"

clean:
	rm -rf build build-asan bin

-include $(LIB_OBJ:.o=.d) $(TRAIN_OBJ:.o=.d) $(EVAL_OBJ:.o=.d) $(SUP_OBJ:.o=.d) $(TEST_BIN:=.d)

# ---- the run report: bin/report, installed as trainval-report (report/, libpng) --------------
REPORT_SRC := $(sort $(wildcard report/*.c))
REPORT_OBJ := $(REPORT_SRC:%.c=$(B)/%.o)
PNG_LIBS   := $(shell pkg-config --libs libpng 2>/dev/null || echo -lpng)
.PHONY: install-report
all: $(BIN)/report
$(BIN)/report: $(REPORT_OBJ) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(PNG_LIBS) $(LDLIBS_ALL)
install: install-report
install-report: $(BIN)/report
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN)/report $(DESTDIR)$(PREFIX)/bin/trainval-report
FORMAT_FILES += $(wildcard report/*.c report/*.h)
# tests/test_report.c tests report/ itself (everything but main.c).
$(B)/tests/test_report: $(B)/tests/test_report.o $(SUP_OBJ) $(filter-out $(B)/report/main.o,$(REPORT_OBJ)) $(LIB)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(PNG_LIBS) $(LDLIBS_ALL) -lcmocka
-include $(REPORT_OBJ:.o=.d)
