# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared helpers (sourced, not run): which Debian packages hold the stock
# kernels kgo is tested on, and where the harness caches kernels.
#   6.1  = bookworm's linux-image-amd64
#   6.12 = bookworm-backports' linux-image-amd64

KGO_CACHE=${KGO_CACHE:-$HOME/.cache/kgo}

# apt's candidate metapackage dependency for one suite: e.g. the real image
# package behind linux-image-amd64 in bookworm-backports.
_kgo_meta_dep() { # meta-package release
	local rel=()
	[ "$2" = bpo ] && rel=(-o APT::Default-Release=bookworm-backports)
	apt-cache "${rel[@]}" depends "$1" 2>/dev/null |
		awk '/Depends:/ && $2 ~ /^linux-(image|headers)-[0-9]/ { print $2; exit }'
}

_kgo_suite() { [ "$1" = 6.12 ] && echo bpo || echo main; }

stock_image_pkg() { _kgo_meta_dep linux-image-amd64 "$(_kgo_suite "$1")"; }
stock_headers_pkg() { _kgo_meta_dep linux-headers-amd64 "$(_kgo_suite "$1")"; }

# The kernel release string (uname -r) of a stock kernel, from its package.
stock_release_of() { echo "$1" | sed -e 's/^linux-image-//' -e 's/-unsigned$//'; }
