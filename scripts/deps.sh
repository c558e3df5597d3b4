#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs the Debian packages that one target needs, and only those, and
# never upgrades, downgrades or removes a package already on the host.
#
#   scripts/deps.sh [PROFILE...]      default: check
#
#   build         libkgo, the tests and examples: gcc, make
#   stock-kernel  Debian's 6.1 and 6.12 kernels for the guest (scripts/kernel
#                 downloads their .debs into the cache, never installs them):
#                 the bookworm-backports apt source (for 6.12), and what
#                 their headers need to build kgo.ko (pahole, per Debian)
#   run           make run: build, stock-kernel, qemu-system-x86,
#                 busybox-static, cpio
#   debug-kernel  the KASAN/lockdep kernel make check builds: kernel build
#                 tools and linux-source-6.12
#   lint          make lint: debug-kernel (checkpatch.pl) and sparse
#   bench         make bench: run, Go 1.23, gnuplot, python3
#   check         make check: all of the above, and dkms, strace, gdb, rsync,
#                 util-linux (setsid: tests/user/run-tests),
#                 kmod, man-db... (scripts/check and scripts/test-install)
#
# Idempotent: a package already installed (in any version) is left alone,
# and a warm machine returns at once.  Packages that must come from
# bookworm-backports (Go 1.23, linux-source-6.12) are named one by one as
# PKG/bookworm-backports, never with `-t bookworm-backports`: -t raises
# every backports package to priority 990, so the installed linux-libc-dev
# and linux-perf got backports' 6.12 as their candidates, and apt, which
# upgrades the installed packages built from the same source as one it
# installs (APT::Get::Upgrade-By-Source-Package; linux-source-6.12 is from
# src:linux), upgraded both.  Before installing, apt-get -s simulates the
# transaction; if it would upgrade, downgrade or remove anything already
# installed, nothing is installed and the script fails, saying what.
set -euo pipefail

log() { echo "deps.sh: $*" >&2; }

need_root() {
	if [ "$(id -u)" != 0 ]; then
		log "missing packages ($*); rerun as root or install them"
		exit 1
	fi
}

# The URI of the Debian source already configured, in deb822 or one-line form.
debian_uri() {
	local uri
	uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	if [ -z "$uri" ]; then
		uri=$(awk '$1 == "deb" && $2 !~ /security/ && $3 ~ /^bookworm/ { print $2; exit }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
	fi
	[ -n "$uri" ] || { log "no Debian apt source found"; exit 1; }
	echo "$uri"
}

# bookworm-backports as an apt source (Debian's default priority for it,
# 100: nothing is ever taken from it unless named).
enable_backports() {
	if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	need_root "the bookworm-backports apt source"
	local uri
	uri=$(debian_uri)
	log "adding the bookworm-backports apt source ($uri)"
	cat > /etc/apt/sources.list.d/kgo-backports.sources <<EOS
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	apt-get update -q
}

missing() {
	local p out=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
			out+=("$p")
	done
	echo "${out[@]:-}"
}

APT_OPTS=(-q --no-install-recommends -o APT::Get::Upgrade-By-Source-Package=false)

# What apt would change among the installed packages: an "Inst" of a
# package with its old version in brackets is an upgrade or a downgrade.
changes_installed() { # apt-get -s output on stdin
	grep -E '^(Inst [^ ]+ \[|Remv )' || true
}

# apt_install SUITE PKG...: the missing ones, from SUITE ("" for the
# default release), after a simulation that changes nothing installed.
apt_install() {
	local suite=$1 m specs=() p sim bad
	shift
	m=$(missing "$@")
	[ -z "$m" ] && return 0
	need_root "$m"
	for p in $m; do
		specs+=("$p${suite:+/$suite}")
	done
	if ! sim=$(apt-get -s install "${APT_OPTS[@]}" "${specs[@]}" 2>&1); then
		apt-get update -q
		sim=$(apt-get -s install "${APT_OPTS[@]}" "${specs[@]}" 2>&1) ||
			{ echo "$sim" >&2; log "apt cannot install ${specs[*]}"; exit 1; }
	fi
	bad=$(echo "$sim" | changes_installed)
	if [ -n "$bad" ]; then
		echo "$bad" >&2
		log "installing ${specs[*]} would change the packages above, already" \
			"on this host; not installing anything.  Install them by hand if" \
			"that is what you want."
		exit 1
	fi
	log "installing ${specs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-remove "${APT_OPTS[@]}" "${specs[@]}"
}

BUILD_PKGS="gcc make"
RUN_PKGS="qemu-system-x86 busybox-static cpio"
STOCK_PKGS="pahole"
DEBUG_PKGS="flex bison bc libelf-dev libssl-dev dwarves python3 xz-utils"
DEBUG_BPO_PKGS="linux-source-6.12"
LINT_PKGS="sparse"
BENCH_PKGS="gnuplot-nox python3"
BENCH_BPO_PKGS="golang-1.23-go golang-1.23-src"
CHECK_PKGS="kmod rsync gdb dkms pkg-config strace groff-base man-db util-linux"

want=() want_bpo=() backports=
add() { local a; read -r -a a <<< "$1"; want+=("${a[@]}"); }
add_bpo() { local a; read -r -a a <<< "$1"; want_bpo+=("${a[@]}"); backports=1; }
profile() {
	case $1 in
	build) add "$BUILD_PKGS" ;;
	stock-kernel) add "$BUILD_PKGS $STOCK_PKGS"; backports=1 ;;
	run) profile build; profile stock-kernel; add "$RUN_PKGS" ;;
	debug-kernel) add "$BUILD_PKGS $DEBUG_PKGS"; add_bpo "$DEBUG_BPO_PKGS" ;;
	lint) profile debug-kernel; add "$LINT_PKGS" ;;
	bench) profile run; add "$BENCH_PKGS"; add_bpo "$BENCH_BPO_PKGS" ;;
	check)
		for p in run debug-kernel lint bench; do profile $p; done
		add "$CHECK_PKGS"
		;;
	*) log "unknown profile $1 (build, stock-kernel, run, debug-kernel, lint, bench, check)"; exit 2 ;;
	esac
}
[ $# -gt 0 ] || set -- check
for p in "$@"; do
	profile "$p"
done

# Bookworm's own packages first: then nothing from backports can be
# pulled in as a dependency of them.
apt_install "" "${want[@]}"
[ -n "$backports" ] && enable_backports
[ ${#want_bpo[@]} -gt 0 ] && apt_install bookworm-backports "${want_bpo[@]}"
exit 0
