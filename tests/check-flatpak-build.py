#!/usr/bin/env python3
"""Builds the tree exactly as the Flatpak manifest's app module does, and
checks what it installs: the app and its data, and nothing of the server or
the CLI agent.

check-flatpak-build.py MESON SOURCE_ROOT BUILD_DIR

BUILD_DIR is kept between runs, so later runs only rebuild what changed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    meson, src, build = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    manifest = json.load(open(os.path.join(src, 'flatpak', 'org.mesh.Mesh.json')))
    app = manifest['modules'][-1]
    # flatpak-builder configures meson modules with --prefix=/app.
    opts = ['--prefix=/app'] + app.get('config-opts', [])
    print('configure:', ' '.join(opts), flush=True)

    if os.path.isfile(os.path.join(build, 'build.ninja')):
        setup = [meson, 'setup', '--reconfigure', build, src] + opts
    else:
        shutil.rmtree(build, ignore_errors=True)
        setup = [meson, 'setup', build, src] + opts
    subprocess.run(setup, check=True, stdout=subprocess.DEVNULL)
    r = subprocess.run(['ninja', '-C', build], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        print(r.stdout[-20000:])
        print('FAIL: the manifest\'s configuration does not build')
        return 1

    failures = []
    with tempfile.TemporaryDirectory(prefix='mesh-flatpak-') as dest:
        subprocess.run([meson, 'install', '-C', build, '--no-rebuild', '--quiet'], check=True,
                       env=dict(os.environ, DESTDIR=dest), stdout=subprocess.DEVNULL)
        files = set()
        for root, _, names in os.walk(dest):
            for n in names:
                files.add('/' + os.path.relpath(os.path.join(root, n), dest))
        for want in ('/app/bin/mesh', '/app/share/applications/org.mesh.Mesh.desktop',
                     '/app/share/metainfo/org.mesh.Mesh.metainfo.xml',
                     '/app/share/glib-2.0/schemas/org.mesh.Mesh.gschema.xml',
                     '/app/share/icons/hicolor/scalable/apps/org.mesh.Mesh.svg',
                     '/app/share/locale/fr/LC_MESSAGES/mesh.mo'):
            if want not in files:
                failures.append('the bundle lacks ' + want)
        for f in sorted(files):
            if (not f.startswith('/app/') or f.startswith('/app/etc/') or 'systemd' in f
                    or os.path.basename(f) in ('mesh-server', 'mesh-agent')
                    or 'mesh-server' in f or 'mesh-agent' in f):
                failures.append('the bundle gets a file of the server or the CLI agent: ' + f)

    for f in failures:
        print('FAIL:', f)
    if not failures:
        print('the manifest\'s configuration builds the app alone (%d files installed)' % len(files))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
