#!/usr/bin/env bash
# Runs HERE (Debian 12): packs Debian's PostgreSQL 15 server for the GPU machine (Ubuntu 24.04, glibc 2.39, no
# network, no PostgreSQL) into .device/pg.txz (git-ignored): the binaries unpacked from the .deb files (apt-get
# download, no install), and every shared library they need that is not glibc itself, from this Debian system
# (built against glibc 2.36, so they load on 2.39; Ubuntu 24.04 has other sonames for ICU and LDAP).
# bench/gpu/core-scaleout.sh unpacks and starts it there as an unprivileged user.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get download postgresql-15 postgresql-client-15 >/dev/null 2>&1 )
root="$work/pg"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root"; done
bin="$root/usr/lib/postgresql/15/bin"
keep="postgres initdb pg_ctl pg_isready psql"
for f in "$bin"/*; do case " $keep " in *" $(basename "$f") "*) ;; *) rm -f "$f" ;; esac; done
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/locale" "$root/etc" "$root/usr/bin" "$root/usr/sbin" \
  "$root/usr/share/postgresql-common" "$root/usr/lib/postgresql/15/lib/bitcode"
# The server keeps its relative layout (bin -> ../../../../share/postgresql/15), so it finds its share and lib
# folders wherever it is unpacked. Its libraries go to usr/lib/pg-deps, named by LD_LIBRARY_PATH there.
mkdir -p "$root/usr/lib/pg-deps"
for exe in "$bin"/*; do ldd "$exe"; done | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in libc.so.*|libm.so.*|libresolv.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) continue ;; esac
  cp -L "$lib" "$root/usr/lib/pg-deps/"
done
mkdir -p .device
tar -C "$root" -cf - usr | xz -T0 -6 > .device/pg.txz
du -sh .device/pg.txz
