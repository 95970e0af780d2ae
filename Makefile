# Tortuga: the user's interface. Every target installs what is missing first.
#   make run     build everything and boot the default domain, the patched Linux with a
#                busybox shell on its console, through tortugad and tortuga
#   make test    build everything and the Linux guest, run every test (unit, guest,
#                linux, fuzz replays), then
#                each libFuzzer target briefly (CI_FUZZ_SECONDS each)
#   make bench   print exit costs, I/O, live migration and Linux guest figures (never fails
#                on a number)
#   make fuzz    build the libFuzzer targets with clang and run each for a while
#   make linux   build the patched guest kernel and its initramfs (cached in /var/cache/tortuga)
#   make porting-cost  what porting Linux cost, as the Xen paper's Table 2 (our port, Linux 6.1's
#                Xen PV guest, the paper's 2.4 figures), and its chart in build/porting-cost.svg

BUILD_DIR ?= build
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 30
CI_FUZZ_SECONDS ?= 10
JOBS ?= $(shell nproc)
CMAKE_BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps build run run-test-guest test test-linux bench fuzz linux porting-cost clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The default domain (the test guest, 32 MiB, one vCPU), created and
# booted through tortugad and tortuga.
# The default domain: the patched Linux with a busybox shell on its console
# (type `exit` to power it off); run-test-guest boots the freestanding test guest.
run: build linux
	scripts/run-default-domain.sh $(BUILD_DIR) linux

run-test-guest: build
	scripts/run-default-domain.sh $(BUILD_DIR) test-guest

test: build linux
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 300 -j$(JOBS)
	$(MAKE) fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

# Only the patched Linux guest's end-to-end tests (ctest label linux).
test-linux: build linux
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 300 -L linux

bench: build linux
	$(BUILD_DIR)/tests/bench/tortuga-bench --guest $(BUILD_DIR)/tests/guest/tortuga-test-guest \
	  --linux $(BUILD_DIR)/linux

fuzz:
	@scripts/install-deps.sh fuzz
	cmake -S . -B $(FUZZ_BUILD_DIR) -DTORTUGA_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target fuzzers
	tests/fuzz/run-fuzzers.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)

linux:
	guest-linux-patches/build.sh $(BUILD_DIR)/linux

# Reads /usr/src/linux-source-6.1.tar.xz and the series; builds no kernel.
porting-cost:
	@scripts/install-deps.sh porting-cost
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j$(JOBS) --target tortuga-porting-cost
	$(BUILD_DIR)/toolstack/porting_cost/tortuga-porting-cost --chart-data $(BUILD_DIR)/porting-cost.dat
	gnuplot -e "datafile='$(BUILD_DIR)/porting-cost.dat'; outfile='$(BUILD_DIR)/porting-cost.svg'" \
	  toolstack/porting_cost/porting_cost_chart.gp
	@echo "chart: $(BUILD_DIR)/porting-cost.svg"

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR)
