#!/usr/bin/env bash
# Installs, idempotently and only when missing, every Debian package the
# build, the guest and the benchmarks need, and enables bookworm-backports
# (for linux 6.12 and golang-1.23) by reusing the URI of the system's own
# Debian apt source.  Safe to run many times: a warm machine returns at once.
set -euo pipefail

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing packages ($*); rerun as root or install them" >&2
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
	[ -n "$uri" ] || { echo "deps.sh: no Debian apt source found" >&2; exit 1; }
	echo "$uri"
}

enable_backports() {
	if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	need_root bookworm-backports
	local uri
	uri=$(debian_uri)
	cat > /etc/apt/sources.list.d/kgo-backports.sources <<EOS
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	apt-get update -q
}

# Packages from bookworm proper.
BASE_PKGS="qemu-system-x86 busybox-static cpio flex bison bc libelf-dev libssl-dev
	dwarves python3 gcc make xz-utils kmod rsync gdb sparse dkms pkg-config
	gnuplot-nox strace groff-base man-db"

missing() {
	local p out=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
			out+=("$p")
	done
	echo "${out[@]:-}"
}

apt_install() {
	local m
	m=$(missing "$@")
	[ -z "$m" ] && return 0
	need_root "$m"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $m ||
		{ apt-get update -q &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $m; }
}

# shellcheck disable=SC2086
apt_install $BASE_PKGS
enable_backports
apt_install_bpo() {
	local m
	m=$(missing "$@")
	[ -z "$m" ] && return 0
	need_root "$m"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-t bookworm-backports $m
}
apt_install_bpo linux-source-6.12 golang-1.23-go golang-1.23-src

