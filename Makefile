# trainval — one Makefile for the whole tree (no per-directory makefiles).
#   make            bin/train, bin/eval, bin/report, and bin/train-mpi where Open MPI is installed
#                   (needs the packages: `make setup` installs them)
#   make test       set-up if needed, format check, unit tests (cmocka), integration tests (shell, real binaries)
#   make asan       the same tests built with AddressSanitizer + UBSan (in build-asan/)
#   make crash      kill -9 train at 200 seeded moments, checking every checkpoint (tests/integration/crash.sh),
#                   a checkpoint on which libhdf5 loops (tests/long/child_hang.sh, 20 s of CPU) and
#                   power cuts on a loop-mounted ext4 image (tests/long/powerloss.sh, root only)
#   make fuzz       builds tests/fuzz/ (clang, libFuzzer + ASan + UBSan, in build-fuzz/) and runs each
#                   target FUZZ_SECONDS (default 30) from its committed corpus (tests/fuzz/README.md)
#   make bench      set-up if needed, speed benchmark (reports figures; never pass/fail on a timing)
#   make accuracy   set-up if needed, trains the example configs to the end, reports test accuracy (long)
#   make demo       set-up if needed, train configs/fashion_mlp.yaml with eval alongside, print results
#   make demo-text  set-up if needed, train configs/fortunes_charlm.yaml a few minutes with eval
#                   alongside (bits per character, samples), print a sample
#   make install    set-up if needed, installs programs, libraries, headers, trainval.pc, man pages
#                   and bash completion under $(DESTDIR)$(PREFIX) (PREFIX=/usr/local); make uninstall
#   make format / format-check
#
# Nothing that depends on an installed package is read when make reads this file: the pkg-config
# flags are evaluated on first use (by a compile or link recipe) and then kept, and the targets
# that set up first (test, asan, bench, accuracy, demo, install) run scripts/setup.sh and only then
# a recursive make that builds.  So on a fresh machine `make demo` installs pkg-config and the -dev
# packages before anything asks pkg-config for a flag.

CC      ?= cc
CFLAGS  ?= -O2 -g
B       ?= build
BIN     ?= bin
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
PKGS    := openblas hdf5 yaml-0.1 zlib libpng libjpeg
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
# Deferred, then memoised: pkg-config runs once per make, when a recipe first needs the flags.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
# GCC's vectoriser cost model; `make fuzz` builds with clang, which has no such flag.
VECT_FLAGS ?= -fvect-cost-model=dynamic
COMPILE_FLAGS = $(WARN) -D_GNU_SOURCE -fno-math-errno $(VECT_FLAGS) -Iinclude -Icommon $(PKG_CFLAGS) $(CFLAGS) $(XCFLAGS)
ALL_CFLAGS = $(COMPILE_FLAGS) $(PIC) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(XLDFLAGS)

# The version (TV_VERSION in the public headers) names the shared library; its major is the soname.
VERSION   := $(or $(shell sed -n 's/^\#define TV_VERSION "\([0-9.]*\)".*/\1/p' include/trainval/*.h | head -1),0.0.0)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))

# common/dist/mpi.c is the MPI side of dist.h: never in the library, only in bin/train-mpi.
MPI_SRC   := common/dist/mpi.c
LIB_SRC   := $(filter-out $(MPI_SRC),$(sort $(wildcard common/*/*.c common/*/*/*.c)))
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
SHLIB     := $(B)/libtrainval.so.$(VERSION)
SONAME    := libtrainval.so.$(SOVERSION)

# What `make install` puts where (wildcards: man pages and completion files install once they exist).
HEADERS     := $(sort $(wildcard include/trainval/*.h))
MAN1        := $(sort $(wildcard man/*.1))
MAN5        := $(sort $(wildcard man/*.5))
COMPLETIONS := $(sort $(wildcard completion/*))

.PHONY: FORCE all lib test unit integration asan fuzz fuzz-build crash bench accuracy demo demo-text setup pkgs format format-check clean \
	install install-files uninstall
all: $(BIN)/train $(BIN)/eval

# The library objects serve the static and the shared library alike (the programs link the
# static one, as before).  Calls inside the library need no interposition through the PLT.
LIB_PIC := -fPIC -fno-semantic-interposition
$(LIB_OBJ): PIC := $(LIB_PIC)

# Every object waits for the package check, which names what is missing instead of a compiler
# error about hdf5.h (an order-only prerequisite: it never makes anything out of date), and is
# rebuilt when the compiler or its flags change ($(B)/flags is rewritten only when they do).
$(B)/%.o: %.c $(B)/flags | pkgs
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/flags: FORCE | pkgs
	@mkdir -p $(B)
	@printf '%s\n' '$(CC) $(COMPILE_FLAGS); library: $(LIB_PIC)' | cmp -s - $@ || \
	  printf '%s\n' '$(CC) $(COMPILE_FLAGS); library: $(LIB_PIC)' >$@

pkgs:
	@command -v pkg-config >/dev/null 2>&1 || { echo "make: pkg-config is not installed: run 'make setup' (scripts/setup.sh) first" >&2; exit 1; }
	@pkg-config --exists $(PKGS) || { echo "make: pkg-config finds no $$(for p in $(PKGS); do pkg-config --exists $$p || printf '%s ' $$p; done)(development packages missing): run 'make setup' (scripts/setup.sh) first" >&2; exit 1; }

lib: $(LIB) $(SHLIB)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHLIB): $(LIB_OBJ)
	$(CC) $(CFLAGS) $(XCFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs -o $@ $^ $(LDLIBS_ALL)

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

integration: all lib
	@BIN=$(abspath $(BIN)) sh tests/run_integration.sh

# The targets the README names set up first, then build in a make that starts after set-up.
test: setup
	@$(MAKE) --no-print-directory format-check unit integration

# ASAN_TESTS picks the suites (default both, as .ci/run runs them).  Under ASan the integration
# scripts take about 36 min one after another on a loaded 2-core machine (about 7 min of CPU: most
# of the rest is waiting on trains, evaluators and polls), so they run two at a time
# (TV_IT_JOBS, tests/run_integration.sh): about 20 min there.
ASAN_TESTS ?= unit integration
ASAN_IT_JOBS ?= 2
# Leaks inside libhdf5 itself on damaged files are suppressed as in make fuzz (tests/fuzz/lsan.supp).
asan: setup
	@LSAN_OPTIONS=suppressions=$(abspath tests/fuzz/lsan.supp) TV_IT_JOBS=$(ASAN_IT_JOBS) $(MAKE) --no-print-directory B=build-asan BIN=build-asan/bin CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  XCFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" $(ASAN_TESTS)

# libFuzzer targets (tests/fuzz/fuzz_*.c), one per reader of outside bytes; see tests/fuzz/README.md.
FUZZ_SRC  := $(filter-out tests/fuzz/fuzz_util.c,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_SECONDS ?= 30

$(B)/fuzz/%: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/fuzz_util.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)

fuzz-build: $(FUZZ_BIN)

fuzz: setup
	@$(MAKE) --no-print-directory B=build-fuzz BIN=build-fuzz/bin CC=clang VECT_FLAGS= \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  XCFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -DTV_ASAN -DTV_CHILD_CPU_S=2" \
	  fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh build-fuzz/fuzz

# The crash-consistency test of make test (24 kills) at length: TV_CRASH_KILLS kills, seed TV_CRASH_SEED.
crash: setup
	@$(MAKE) --no-print-directory all
	@TV_CRASH_KILLS=$${TV_CRASH_KILLS:-200} TV_CRASH_STEPS=$${TV_CRASH_STEPS:-6000} BIN=$(abspath $(BIN)) \
	  sh tests/integration/crash.sh
	@BIN=$(abspath $(BIN)) sh tests/long/child_hang.sh
	@BIN=$(abspath $(BIN)) sh tests/long/powerloss.sh

bench: setup
	@$(MAKE) --no-print-directory all
	@sh scripts/bench.sh

demo: setup
	@$(MAKE) --no-print-directory all
	@BIN=$(BIN) sh scripts/demo.sh

# The character language model on Debian's fortunes, a few minutes, with an evaluator alongside.
demo-text: setup
	@$(MAKE) --no-print-directory all
	@BIN=$(BIN) sh scripts/demo_text.sh

# Trains the example configs to the end and reports test accuracy (long: ~15 min for the CNN),
# then scikit-learn's bundled datasets beside scikit-learn's own MLPs on the same split.
accuracy: setup
	@$(MAKE) --no-print-directory all
	@sh scripts/accuracy.sh
	@/usr/bin/python3 scripts/accuracy_tabular.py

install: setup
	@$(MAKE) --no-print-directory install-files

# trainval.pc is written at install time and is relocatable: with LIBDIR under PREFIX its prefix
# is ${pcfiledir}/.. up to PREFIX, so it is right under any DESTDIR (pkg-config finds the tree
# through PKG_CONFIG_PATH alone) and after the tree is moved; a LIBDIR elsewhere gives PREFIX as is.
pc_under   = $(filter $(PREFIX)/%,$(1))
pc_path    = $(if $(call pc_under,$(1)),$${prefix}/$(patsubst $(PREFIX)/%,%,$(1)),$(1))
pc_up      = $(subst $(eval) ,/,$(foreach d,$(subst /, ,$(patsubst $(PREFIX)/%,%,$(LIBDIR))/pkgconfig),..))
PC_PREFIX  = $(if $(call pc_under,$(LIBDIR)),$${pcfiledir}/$(pc_up),$(PREFIX))
install-files: all lib
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/trainval
	install -m 755 $(BIN)/train $(DESTDIR)$(BINDIR)/trainval-train
	install -m 755 $(BIN)/eval $(DESTDIR)$(BINDIR)/trainval-eval
	if [ -x $(BIN)/train-mpi ]; then install -m 755 $(BIN)/train-mpi $(DESTDIR)$(BINDIR)/trainval-train-mpi; fi
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libtrainval.a
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/libtrainval.so.$(VERSION)
	ln -sf libtrainval.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtrainval.so
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/trainval/
	sed -e 's|@PREFIX@|$(PC_PREFIX)|g' -e 's|@LIBDIR@|$(call pc_path,$(LIBDIR))|g' -e 's|@INCLUDEDIR@|$(call pc_path,$(INCLUDEDIR))|g' \
	  -e 's|@VERSION@|$(VERSION)|g' -e 's|@REQUIRES@|$(PKGS)|g' trainval.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/trainval.pc
	$(if $(MAN1),install -d $(DESTDIR)$(MANDIR)/man1 && install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(MAN5),install -d $(DESTDIR)$(MANDIR)/man5 && install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/)
	$(if $(COMPLETIONS),install -d $(DESTDIR)$(COMPLETIONDIR) && install -m 644 $(COMPLETIONS) $(DESTDIR)$(COMPLETIONDIR)/)
	@if [ -z "$(DESTDIR)" ] && [ -w "$(LIBDIR)" ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

# Removes exactly what install-files installs (and include/trainval/ once it is empty).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/trainval-train $(DESTDIR)$(BINDIR)/trainval-eval $(DESTDIR)$(BINDIR)/trainval-train-mpi
	rm -f $(DESTDIR)$(LIBDIR)/libtrainval.a $(DESTDIR)$(LIBDIR)/libtrainval.so.$(VERSION) \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libtrainval.so $(DESTDIR)$(LIBDIR)/pkgconfig/trainval.pc
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/trainval/,$(notdir $(HEADERS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/trainval 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))
	rm -f $(addprefix $(DESTDIR)$(COMPLETIONDIR)/,$(notdir $(COMPLETIONS)))
	@if [ -z "$(DESTDIR)" ] && [ -w "$(LIBDIR)" ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

FORMAT_FILES = $(wildcard include/trainval/*.h common/*/*.c common/*/*.h common/*/*/*.c common/*/*/*.h train/*.c train/*.h eval/*.c eval/*.h tests/*.c tests/*.h tests/integration/*.c tests/fuzz/*.c tests/fuzz/*.h)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files clean"

clean:
	rm -rf build build-asan build-fuzz bin

-include $(LIB_OBJ:.o=.d) $(TRAIN_OBJ:.o=.d) $(EVAL_OBJ:.o=.d) $(SUP_OBJ:.o=.d) $(TEST_BIN:=.d)

# ---- the run report: bin/report, installed as trainval-report (report/) ---------------------
REPORT_SRC := $(sort $(wildcard report/*.c))
REPORT_OBJ := $(REPORT_SRC:%.c=$(B)/%.o)
.PHONY: install-report uninstall-report
all: $(BIN)/report
$(BIN)/report: $(REPORT_OBJ) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS_ALL)
# Part of install-files (so it runs after set-up, in install's recursive make) and of uninstall.
install-files: install-report
install-report: $(BIN)/report
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(BIN)/report $(DESTDIR)$(BINDIR)/trainval-report
uninstall: uninstall-report
uninstall-report:
	rm -f $(DESTDIR)$(BINDIR)/trainval-report
FORMAT_FILES += $(wildcard report/*.c report/*.h)
# tests/test_report.c tests report/ itself (everything but main.c).
$(B)/tests/test_report: $(B)/tests/test_report.o $(SUP_OBJ) $(filter-out $(B)/report/main.o,$(REPORT_OBJ)) $(LIB)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcmocka
-include $(REPORT_OBJ:.o=.d)
# tests/test_figures.c tests eval/figures.c (eval's own module, not part of the library).
$(B)/tests/test_figures: $(B)/tests/test_figures.o $(SUP_OBJ) $(B)/eval/figures.o $(LIB)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $^ $(LDLIBS_ALL) -lcmocka

# ---- the data-parallel trainer: bin/train-mpi (dist.h; Open MPI) ----------------------------
# The same trainer as bin/train with common/dist/mpi.c linked ahead of the library (whose
# one-process dist it then leaves out).  bin/train runs it when started by mpirun.  A separate
# binary, so that bin/train never needs MPI; built only where pkg-config finds Open MPI (the
# check is in the recipe: nothing reads pkg-config when make reads this file).
MPI_OBJ := $(B)/common/dist/mpi.o
all: $(BIN)/train-mpi
$(BIN)/train-mpi: $(TRAIN_OBJ) $(LIB) $(MPI_SRC) include/trainval/dist.h include/trainval/files.h $(B)/flags
	@mkdir -p $(BIN) $(dir $(MPI_OBJ))
	@if pkg-config --exists ompi-c; then \
	  echo "$(CC) ... -c $(MPI_SRC) && link $@"; \
	  $(CC) $(ALL_CFLAGS) $$(pkg-config --cflags ompi-c) -c $(MPI_SRC) -o $(MPI_OBJ) && \
	  $(CC) $(CFLAGS) $(XCFLAGS) -o $@ $(MPI_OBJ) $(TRAIN_OBJ) $(LIB) $$(pkg-config --libs ompi-c) $(LDLIBS_ALL); \
	else \
	  echo "make: Open MPI not found (pkg-config ompi-c): $@ not built; make setup installs libopenmpi-dev" >&2; \
	fi
