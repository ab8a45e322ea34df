#!/usr/bin/env bash
# test/package.sh: the Debian package and the PGXN metadata.
#
# Builds postgresql-15-penelope-sandbox with dpkg-buildpackage (debian/,
# pg_buildext) from a scratch copy of the tree, installs it into the server
# of PG_BIN, starts a throwaway cluster and creates the extension from the
# package's files, then removes the package and puts the tree's own build
# back (make install), whatever happened, for the suites that follow.
#
# How it installs depends on which server PG_BIN is:
# - the system server (/usr/lib/postgresql/15, as in CI): "dpkg -i", the
#   real thing, and "dpkg --purge" afterwards;
# - a private copy (a developer's PG_BIN under some other root): the files
#   of the package are unpacked into that root with "dpkg-deb -x" (the same
#   paths below it), so the system server and its dpkg database are not
#   touched, and removed again file by file.
# Needs root (build dependencies are installed with apt-get if missing).
source "$(dirname "$0")/../tools/testlib.sh"

PACKAGE=postgresql-$PG_MAJOR-penelope-sandbox
EXTDIR=$($PG_BIN/pg_config --sharedir)/extension
LIBDIR=$($PG_BIN/pg_config --pkglibdir)
ROOT=$(cd "$PG_BIN/../../../../.." && pwd)	# the directory holding usr/
VERSION=$(sed -n "s/^default_version = '\([^']*\)'/\1/p" "$TOP/penelope_sandbox.control")
WORK=$(mktemp -d /tmp/penelope_sandbox_package.XXXXXX)

[ "$(id -u)" -eq 0 ] || { echo "# skipped: installing a package needs root"; exit 0; }
install_build_deps() {
	local missing=()
	for p in debhelper dpkg-dev postgresql-server-dev-all; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
install_build_deps

# restore: remove the package, then install the tree's own build again.
restore() {
	cluster_stop
	if [ "$ROOT" = / ]; then
		dpkg --purge "$PACKAGE" >/dev/null 2>&1
	elif [ -f "$WORK/files" ]; then
		(cd "$ROOT" && xargs -r -d '\n' rm -f < "$WORK/files")
	fi
	build_and_install >/dev/null
	rm -rf "$WORK"
}
trap restore EXIT

echo "# PGXN: META.json"
is "$(python3 - "$TOP/META.json" "$VERSION" <<-'PY'
	import json, re, sys
	meta = json.load(open(sys.argv[1]))
	semver = re.compile(r'^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$')
	problems = [k for k in ('name', 'version', 'abstract', 'maintainer', 'license', 'provides', 'meta-spec')
	            if k not in meta]
	if not re.match(r'^1\.0\.\d+$', meta.get('meta-spec', {}).get('version', '')):
	    problems.append('meta-spec version')
	if meta.get('license') != 'postgresql':
	    problems.append('license is not postgresql (LICENSE)')
	if not semver.match(meta.get('version', '')):
	    problems.append('version is not semver')
	ext = meta.get('provides', {}).get('penelope_sandbox', {})
	if ext.get('version') != sys.argv[2] + '.0':
	    problems.append('provides.penelope_sandbox.version is not the control file version')
	print(' '.join(problems) or 'ok')
	PY
)" ok "META.json has the required keys and the control file's version"
is "$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)" "$VERSION.0" \
	"debian/changelog is at the control file's version"

echo "# building $PACKAGE"
mkdir "$WORK/src"
tar -C "$TOP" --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./.deps \
	--exclude=./tmp_check --exclude=./results -cf - . | tar -C "$WORK/src" -xf -
(cd "$WORK/src" && make -s clean PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config >/dev/null 2>&1
	dpkg-buildpackage -us -uc -b >"$WORK/build.log" 2>&1)
is "$?" 0 "dpkg-buildpackage builds the package"
deb=$(ls "$WORK"/${PACKAGE}_*.deb 2>/dev/null | head -1)
like "$deb" "${PACKAGE}_${VERSION}.0_[a-z0-9]+\.deb$" "it is $PACKAGE $VERSION.0"
[ -n "$deb" ] || { tail -20 "$WORK/build.log"; finish; exit 1; }
contents=$(dpkg-deb -c "$deb")
# every frozen release and upgrade script of updates/, so that 1.0 still
# installs and upgrades step by step to $VERSION
for f in "extension/penelope_sandbox.control" "extension/penelope_sandbox--$VERSION.sql" \
	$(cd "$TOP/updates" && printf 'extension/%s ' penelope_sandbox--*.sql) \
	"lib/penelope_sandbox.so" "bin/pg_sandbox_refresh"; do
	like "$contents" "/$f\$" "the package holds $f"
done
like "$contents" "/usr/share/doc/$PACKAGE/copyright\$" "the package holds its copyright file"
is "$(sed -n 's/^License: //p' "$TOP/debian/copyright" | sort -u)" "PostgreSQL" \
	"debian/copyright gives the PostgreSQL License, as LICENSE does"
like "$(head -1 "$TOP/LICENSE")" "PostgreSQL License" "LICENSE is the PostgreSQL License"

echo "# installing it into $ROOT"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./||' > "$WORK/files"
if [ "$ROOT" = / ]; then
	dpkg -i "$deb" >"$WORK/install.log" 2>&1
	is "$?" 0 "dpkg -i installs the package"
	is "$(dpkg-query -W -f='${Status}' "$PACKAGE")" "install ok installed" "dpkg knows it installed"
else
	dpkg-deb -x "$deb" "$ROOT"
	is "$?" 0 "dpkg-deb -x unpacks the package into the private server's root"
fi
# same_as_package FILE: "same" when the installed FILE is the package's copy
same_as_package() {
	dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ".${1#"${ROOT%/}"}" | cmp -s - "$1" && echo same
}
is "$(same_as_package "$LIBDIR/penelope_sandbox.so")" same "the server's library is the package's"
is "$(same_as_package "$EXTDIR/penelope_sandbox--$VERSION.sql")" same "the server's extension script is the package's"

cluster_start "shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.server_role = 'sandbox'"
trap restore EXIT	# cluster_start set its own
createdb pkg
is "$(sql pkg -c "CREATE EXTENSION penelope_sandbox" -c "SELECT extversion FROM pg_extension WHERE extname = 'penelope_sandbox'")" \
	"$VERSION" "CREATE EXTENSION penelope_sandbox from the package"
like "$(sql pkg -c "CREATE TABLE t (id int, email text)" -c "INSERT INTO t VALUES (1, 'a@corp.example.com')" \
	-c "INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES ('migration', 't', 'email', 'mask', 'sandbox.mask_email(email)')" \
	-c "SELECT sandbox_sanitize('migration')")" '^run [0-9]+' "a sanitization runs with the package's library"
createdb pkg_old
is "$(sql pkg_old -c "CREATE EXTENSION penelope_sandbox VERSION '1.0'" -c "ALTER EXTENSION penelope_sandbox UPDATE" \
	-c "SELECT extversion FROM pg_extension WHERE extname = 'penelope_sandbox'")" \
	"$VERSION" "the package upgrades 1.0 to $VERSION"
like "$("$PG_BIN/pg_sandbox_refresh" --help 2>&1)" 'pg_sandbox_refresh' "pg_sandbox_refresh is installed beside the server"
cluster_stop

echo "# removing it"
if [ "$ROOT" = / ]; then
	dpkg --purge "$PACKAGE" >/dev/null 2>&1
	is "$?" 0 "dpkg --purge removes the package"
else
	(cd "$ROOT" && xargs -r -d '\n' rm -f < "$WORK/files")
fi
is "$(ls "$EXTDIR"/penelope_sandbox* "$LIBDIR"/penelope_sandbox.so 2>/dev/null | wc -l)" 0 "no file of the package is left"

finish
