#!/usr/bin/env bash
# Installs the Debian packages libctx builds and tests with, when run as root
# and something is missing; otherwise lists what is missing and goes on (the
# tests that need a missing package are skipped, visibly).
# Usage: scripts/deps.sh [build|test|bench]
set -u
kind=${1:-test}
pkgs="build-essential autoconf automake libtool pkg-config"
case "$kind" in
test|bench)
	pkgs="$pkgs libcriterion-dev liburing-dev mandoc man-db valgrind clang libclang-rt-dev
	      libglib2.0-dev libuv1-dev libevent-dev libsystemd-dev
	      abigail-tools debhelper dpkg-dev lintian
	      libpq-dev postgresql-15 libcurl4-openssl-dev

	      libnghttp2-dev python3-grpcio"
	;;
esac
[ "$kind" = bench ] && pkgs="$pkgs golang-go gnuplot-nox"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# The tests start PostgreSQL servers of their own (tests/with-pg.sh):
	# the package need not create and start a system-wide cluster.
	case "$missing" in
	*postgresql-15*)
		mkdir -p /etc/postgresql-common/createcluster.d &&
			echo "create_main_cluster = false" \
				>/etc/postgresql-common/createcluster.d/libctx-tests.conf
		;;
	esac
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		{ echo "deps: apt-get failed" >&2; exit 1; }
else
	echo "deps: missing$missing (run as root to install them with apt-get)" >&2
fi
