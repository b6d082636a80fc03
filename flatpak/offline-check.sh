#!/usr/bin/env bash
# Runs the real flatpak-builder on a copy of org.mesh.Mesh.json without
# Flathub or any network (flatpak/README.md, "What was verified here"):
#
#   bash flatpak/offline-check.sh MIRRORS [WORKDIR]
#
# MIRRORS holds git clones (or bare snapshots) of the manifest's repositories
# as MIRRORS/OWNER+NAME/repo: akheron+jansson, benmcollins+libjwt,
# ngtcp2+ngtcp2.  The app itself comes from this checkout's repository.
#
# 1. assembles a stand-in SDK/runtime, org.mesh.Debian12.Sdk//12, from this
#    Debian 12 machine's /usr and /etc, minus libjwt-gnutls and ngtcp2 (the
#    GNOME runtime has neither), and installs it for the user;
# 2. builds the manifest with it: git URLs pointing at the mirrors (same tags
#    and commits), fast_float and VTE left out (Debian 12's GTK 4.8 cannot
#    build VTE 0.80; the stand-in has Debian's VTE), no strip/appstream-compose
#    (the stand-in lacks eu-strip and appstream-compose);
# 3. runs the app in the sandbox and checks the download folder and
#    flatpak-spawn --host (Debian's flatpak-spawn is added to the bundle).
#
# Needs root or a user with user namespaces; installs flatpak, flatpak-builder
# and flatpak-xdg-utils from Debian.  Takes about 10 minutes and 5 GB.
set -euo pipefail
mirrors=$(realpath "$1")
work=$(realpath -m "${2:-/tmp/mesh-flatpak-offline}")
src=$(cd "$(dirname "$0")/.." && pwd)
repo=$(git -C "$src" rev-parse --path-format=absolute --git-common-dir)

DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  flatpak flatpak-builder flatpak-xdg-utils >/dev/null

rm -rf "$work"
mkdir -p "$work/sdk/usr" "$work/sdk/files" "$work/app"
if ! flatpak --user info org.mesh.Debian12.Sdk//12 >/dev/null 2>&1; then
  echo "== assembling the stand-in runtime"
  tar -C /usr --exclude=./local --exclude=./lib/jvm --exclude=./lib/google-cloud-sdk \
      --exclude=./share/doc -cf - . | tar -C "$work/sdk/usr" -xf -
  tar -C / --exclude=./etc/ssh -cf - ./etc 2>/dev/null | tar -C "$work/sdk/usr" -xf - || true
  rm -rf "$work"/sdk/usr/lib/*/libjwt-gnutls* "$work"/sdk/usr/lib/*/libngtcp2* \
         "$work"/sdk/usr/lib/*/pkgconfig/libjwt-gnutls.pc "$work"/sdk/usr/lib/*/pkgconfig/libngtcp2*.pc \
         "$work/sdk/usr/include/jwt.h" "$work/sdk/usr/include/ngtcp2"
  printf '[Runtime]\nname=org.mesh.Debian12.Sdk\nruntime=org.mesh.Debian12.Sdk/x86_64/12\nsdk=org.mesh.Debian12.Sdk/x86_64/12\n' \
    > "$work/sdk/metadata"
  flatpak build-export --runtime --disable-sandbox "$work/runtime-repo" "$work/sdk" 12
  flatpak --user remote-add --if-not-exists --no-gpg-verify mesh-deb12 "$work/runtime-repo"
  flatpak --user install -y --noninteractive mesh-deb12 org.mesh.Debian12.Sdk//12
  rm -rf "$work/sdk"
fi

echo "== building"
python3 - "$src/flatpak/org.mesh.Mesh.json" "$work/app/org.mesh.Mesh.json" "$mirrors" "$repo" <<'PY'
import json, sys
src, dst, mirrors, repo = sys.argv[1:]
m = json.load(open(src))
m.update({'runtime': 'org.mesh.Debian12.Sdk', 'sdk': 'org.mesh.Debian12.Sdk', 'runtime-version': '12',
          'build-options': {'no-debuginfo': True, 'strip': False}, 'appstream-compose': False})
m['modules'] = [x for x in m['modules'] if x['name'] not in ('fast_float', 'vte')]
for mod in m['modules']:
    for s in mod['sources']:
        if s.get('type') != 'git':
            continue
        if mod['name'] == 'mesh':
            s['url'] = 'file://' + repo
            s.pop('tag', None)   # the release tag may not exist yet
        else:
            owner, name = s['url'][len('https://github.com/'):-len('.git')].split('/')
            s['url'] = 'file://%s/%s+%s/repo' % (mirrors, owner, name)
m['modules'].append({'name': 'flatpak-spawn-from-debian', 'buildsystem': 'simple',
                     'build-commands': ['install -D -m 0755 flatpak-spawn /app/bin/flatpak-spawn'],
                     'sources': [{'type': 'file', 'path': '/usr/libexec/flatpak-xdg-utils/flatpak-spawn'}]})
json.dump(m, open(dst, 'w'), indent=2)
PY
cd "$work/app"
flatpak-builder --user --disable-rofiles-fuse --force-clean --state-dir="$work/app/.fb" \
  --repo="$work/app-repo" build org.mesh.Mesh.json
cat build/metadata
find build/files -type f -not -path '*/debug/*' | sed 's|^build/files|/app|' | sort
if find build/files -name 'mesh-server*' -o -name 'mesh-agent*' -o -path '*/systemd/*' | grep -q .; then
  echo "FAIL: the bundle has files of the server or the CLI agent"; exit 1
fi

echo "== running in the sandbox"
flatpak --user remote-add --if-not-exists --no-gpg-verify mesh-app "$work/app-repo"
flatpak --user install -y --noninteractive --reinstall mesh-app org.mesh.Mesh
dbus-run-session -- flatpak run org.mesh.Mesh --help | head -3
dbus-run-session -- flatpak run --command=sh org.mesh.Mesh -c '
  test -e /.flatpak-info && echo "/.flatpak-info: present"
  dl=$(sed -n "s/^XDG_DOWNLOAD_DIR=//p" "$XDG_CONFIG_HOME/user-dirs.dirs" 2>/dev/null)
  echo "XDG download folder in the sandbox: ${dl:-none (the host user has no XDG download folder in user-dirs.dirs)}"
  echo "host passwd entry: $(flatpak-spawn --host getent passwd "$(id -u)")"
  flatpak-spawn --host --watch-bus --env=TERM=xterm-256color /bin/sh -c "echo host shell sees TERM=\$TERM"
' 2> >(grep -v dbus-daemon >&2)
echo "== done: $work (flatpak --user uninstall org.mesh.Mesh org.mesh.Debian12.Sdk to clean up)"
