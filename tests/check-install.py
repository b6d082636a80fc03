#!/usr/bin/env python3
"""Installs the build into a scratch DESTDIR and checks the tree.

check-install.py MESON BUILDDIR KEY=VALUE...

The keys are the build's options and folders (app, server, agent: true or
false; prefix, bindir, datadir, mandir, sysconfdir, localedir, unitdir).
Every file a distribution expects must be where it expects it, nothing else
may be installed (no tests, benchmarks, static libraries), and nothing of a
part that was not built.
"""

import os
import re
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def main():
    meson, builddir = sys.argv[1], sys.argv[2]
    opts = dict(a.split('=', 1) for a in sys.argv[3:])
    app, server, agent = (opts[k] == 'true' for k in ('app', 'server', 'agent'))
    prefix = opts['prefix']

    def p(key, *rest):
        d = opts[key]
        if not os.path.isabs(d):
            d = os.path.join(prefix, d)
        return os.path.normpath(os.path.join(d, *rest))

    expected = {}   # absolute path -> built when
    expected[p('bindir', 'mesh')] = app
    expected[p('bindir', 'mesh-server')] = server
    expected[p('bindir', 'mesh-agent')] = agent
    expected[p('unitdir', 'mesh-server.service')] = server
    expected[p('sysconfdir', 'mesh-server', 'mesh-server.conf')] = server
    expected[p('mandir', 'man1', 'mesh-server.1')] = server
    expected[p('mandir', 'man1', 'mesh-agent.1')] = agent
    expected[p('datadir', 'doc', 'mesh', 'operations.md')] = server
    expected[p('datadir', 'doc', 'mesh', 'agent.md')] = agent
    expected[p('datadir', 'applications', 'org.mesh.Mesh.desktop')] = app
    expected[p('datadir', 'metainfo', 'org.mesh.Mesh.metainfo.xml')] = app
    expected[p('datadir', 'glib-2.0', 'schemas', 'org.mesh.Mesh.gschema.xml')] = app
    expected[p('datadir', 'icons', 'hicolor', 'scalable', 'apps', 'org.mesh.Mesh.svg')] = app
    expected[p('datadir', 'icons', 'hicolor', 'symbolic', 'apps',
               'org.mesh.Mesh-symbolic.svg')] = app
    expected[p('localedir', 'fr', 'LC_MESSAGES', 'mesh.mo')] = app

    with tempfile.TemporaryDirectory(prefix='mesh-destdir-') as destdir:
        env = dict(os.environ, DESTDIR=destdir)
        r = subprocess.run([meson, 'install', '-C', builddir, '--no-rebuild', '--quiet'],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            print(r.stdout)
            print('FAIL: meson install exited with', r.returncode)
            return 1

        installed = set()
        for root, dirs, files in os.walk(destdir):
            for f in files:
                installed.add('/' + os.path.relpath(os.path.join(root, f), destdir))

        for path, wanted in sorted(expected.items()):
            if wanted:
                check(path in installed, 'missing: ' + path)
            else:
                check(path not in installed, 'installed although its part is off: ' + path)

        # What post-install scripts may leave (caches of the installed data).
        generated = re.compile(r'(gschemas\.compiled|icon-theme\.cache|mimeinfo\.cache)$')
        for path in sorted(installed):
            if path not in expected and not generated.search(path):
                failures.append('unexpected file installed: ' + path)
            check(not path.endswith(('.a', '.la', '.h', '.pc')), 'development file: ' + path)
            check(not os.path.basename(path).startswith(('test-', 'mesh-bench')),
                  'test or benchmark installed: ' + path)

        for path in sorted(installed):
            full = destdir + path
            if path.startswith(p('bindir') + '/'):
                check(os.access(full, os.X_OK), 'not executable: ' + path)

        unit = p('unitdir', 'mesh-server.service')
        if server and unit in installed:
            text = open(destdir + unit).read()
            m = re.search(r'^ExecStart=(\S+) --config (\S+)', text, re.M)
            check(m is not None, 'the unit has no ExecStart with --config')
            if m:
                check(m.group(1) == p('bindir', 'mesh-server'),
                      'the unit starts %s, not the installed binary' % m.group(1))
                check(m.group(2) == p('sysconfdir', 'mesh-server', 'mesh-server.conf'),
                      'the unit reads %s, not the installed config' % m.group(2))
            check(re.search(r'@[a-z_]+@', text) is None, 'unsubstituted @variable@ in the unit')

        if app:
            desktop = open(destdir + p('datadir', 'applications', 'org.mesh.Mesh.desktop')).read()
            check(re.search(r'^Exec=mesh\b', desktop, re.M) is not None,
                  'the desktop file does not run mesh')
            check('Name[fr]=' in desktop or 'Comment[fr]=' in desktop,
                  'the desktop file has no French translation merged')
            metainfo = open(destdir + p('datadir', 'metainfo', 'org.mesh.Mesh.metainfo.xml')).read()
            check('<developer_name' not in metainfo, 'the metainfo uses the deprecated developer_name')
            check(re.search(r'<developer id="[^"]+">\s*<name[^>]*>[^<]+</name>', metainfo) is not None,
                  'the metainfo has no <developer id><name>')
            for kind in ('homepage', 'bugtracker', 'vcs-browser'):
                m = re.search(r'<url type="%s">([^<]+)</url>' % kind, metainfo)
                check(m is not None and m.group(1).startswith('https://')
                      and 'example.' not in m.group(1),
                      'the metainfo has no real %s URL' % kind)

    for f in failures:
        print('FAIL:', f)
    if not failures:
        print('installed tree is complete (%d files)' % len(installed))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
