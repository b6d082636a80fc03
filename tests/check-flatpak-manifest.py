#!/usr/bin/env python3
"""Checks flatpak/org.mesh.Mesh.json without Flathub.

check-flatpak-manifest.py SOURCE_ROOT

- well-formed JSON (duplicate keys refused);
- a supported GNOME runtime;
- every source pinned: git by tag and commit, archives and files by sha256,
  in-tree files by path; nothing taken from a working folder;
- the finish-args are exactly the reviewed list in flatpak/README.md;
- nothing bundled that the GNOME runtime has; libjwt 1.10 built by autotools
  with autoreconf (its git tag has no configure);
- the app module builds the app alone, with options meson_options.txt has
  (tests/check-flatpak-build.py builds exactly those in CI), from a commit of
  this repository.
"""

import json
import os
import re
import subprocess
import sys

failures = []
IN_RUNTIME = {'libnotify', 'libsoup', 'json-glib', 'sqlite', 'libarchive', 'gstreamer', 'gtk',
              'gtk4', 'libadwaita', 'gnutls', 'glib', 'glib-networking'}


def check(cond, what):
    if not cond:
        failures.append(what)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise ValueError('duplicate keys: ' + ', '.join(dups))
    return dict(pairs)


def reviewed_finish_args(readme):
    text = open(readme, encoding='utf-8').read()
    m = re.search(r'^## finish-args\n(.*?)^Not asked for', text, re.M | re.S)
    if not m:
        return None
    return re.findall(r'^- `(--[^`]+)` — \S', m.group(1), re.M)


def meson_options(src):
    text = open(os.path.join(src, 'meson_options.txt'), encoding='utf-8').read()
    return set(re.findall(r"option\('([^']+)'", text))


def walk(modules):
    for m in modules:
        if isinstance(m, str):
            failures.append('module file %s: keep every module in the manifest' % m)
            continue
        yield m
        yield from walk(m.get('modules', []))


def check_source(module, s, src):
    name = module['name']
    t = s.get('type')
    if t == 'git':
        check(re.fullmatch(r'[0-9a-f]{40}', s.get('commit', '')) is not None,
              '%s: git source without a full commit' % name)
        check(bool(s.get('tag')), '%s: git source without its tag' % name)
        check('branch' not in s, '%s: git source follows a branch' % name)
        check(s.get('url', '').startswith('https://'), '%s: git url is not https' % name)
    elif t in ('archive', 'file'):
        if 'url' in s:
            check(re.fullmatch(r'[0-9a-f]{64}', s.get('sha256', '')) is not None,
                  '%s: %s source without sha256' % (name, t))
            check(s['url'].startswith('https://'), '%s: url is not https' % name)
        else:
            check(os.path.isfile(os.path.join(src, 'flatpak', s.get('path', ''))),
                  '%s: in-tree %s is missing' % (name, t))
    elif t == 'patch':
        check(os.path.isfile(os.path.join(src, 'flatpak', s.get('path', ''))),
              '%s: patch file is missing' % name)
    elif t == 'shell':
        check(bool(s.get('commands')), '%s: empty shell source' % name)
    else:
        failures.append('%s: source type %r is not pinned (dir, or unknown)' % (name, t))


def main():
    src = os.path.abspath(sys.argv[1])
    path = os.path.join(src, 'flatpak', 'org.mesh.Mesh.json')
    try:
        manifest = json.load(open(path, encoding='utf-8'), object_pairs_hook=no_duplicates)
    except ValueError as e:
        print('FAIL: %s is not well-formed JSON: %s' % (path, e))
        return 1

    check(manifest.get('id') == 'org.mesh.Mesh', 'id is not org.mesh.Mesh')
    check(manifest.get('runtime') == 'org.gnome.Platform', 'runtime is not org.gnome.Platform')
    check(manifest.get('sdk') == 'org.gnome.Sdk', 'sdk is not org.gnome.Sdk')
    version = manifest.get('runtime-version', '')
    check(version.isdigit() and int(version) >= 48,
          'runtime-version %r is end of life or not a release' % version)
    check(manifest.get('command') == 'mesh', 'command is not mesh')

    args = manifest.get('finish-args', [])
    reviewed = reviewed_finish_args(os.path.join(src, 'flatpak', 'README.md'))
    check(reviewed is not None, 'flatpak/README.md has no reviewed finish-args list')
    if reviewed is not None:
        check(len(args) == len(set(args)), 'finish-args has duplicates')
        for a in sorted(set(args) - set(reviewed)):
            failures.append('finish-arg %s is not in the reviewed list of flatpak/README.md' % a)
        for a in sorted(set(reviewed) - set(args)):
            failures.append('reviewed finish-arg %s is not in the manifest' % a)

    modules = list(walk(manifest.get('modules', [])))
    names = [m.get('name') for m in modules]
    check(len(names) == len(set(names)), 'two modules share a name')
    for m in modules:
        check(m.get('name') not in IN_RUNTIME, '%s is bundled but the GNOME runtime has it' % m.get('name'))
        sources = m.get('sources', [])
        check(bool(sources), '%s has no sources' % m.get('name'))
        for s in sources:
            check_source(m, s, src)
        check('post-install' not in m or not any('.pc' in c for c in m['post-install']),
              '%s edits pkg-config files by hand' % m.get('name'))

    jwt = [m for m in modules if m.get('name') == 'libjwt']
    check(len(jwt) == 1, 'no libjwt module')
    if jwt:
        m = jwt[0]
        git = [s for s in m['sources'] if s.get('type') == 'git']
        check(bool(git) and re.fullmatch(r'v1\.10\.\d+', git[0].get('tag', '')) is not None,
              'libjwt is not 1.10.x (the version the app is tested against)')
        check(m.get('buildsystem') == 'autotools', 'libjwt 1.10 installs libjwt.pc only with autotools')
        check(any(s.get('type') == 'shell' and any('autoreconf' in c for c in s['commands'])
                  for s in m['sources']),
              'libjwt from git has no configure: it needs autoreconf before configure')
        check('--without-openssl' in m.get('config-opts', []), 'libjwt is not built with GnuTLS')

    app = modules[-1] if modules else {}
    check(app.get('name') == 'mesh', 'the last module is not the app')
    check(app.get('buildsystem') == 'meson', 'the app is not built with meson')
    opts = app.get('config-opts', [])
    for o in ('-Dserver=false', '-Dagent=false', '-Dtests=false'):
        check(o in opts, 'the app module does not pass %s' % o)
    known = meson_options(src)
    builtin = {'buildtype', 'prefix', 'libdir', 'optimization', 'debug', 'b_lto', 'b_ndebug'}
    for o in opts:
        m = re.fullmatch(r'(?:-D|--)([a-z_]+)=\S+', o)
        check(m is not None and (m.group(1) in known or m.group(1) in builtin),
              'the app module passes an option the build does not have: %s' % o)
    app_git = [s for s in app.get('sources', []) if s.get('type') == 'git']
    in_git = os.path.exists(os.path.join(src, '.git'))
    if in_git:
        # A shallow clone does not have the history to look the commit up in.
        shallow = subprocess.run(['git', '-C', src, 'rev-parse', '--is-shallow-repository'],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        in_git = shallow.returncode == 0 and shallow.stdout.strip() == 'false'
    if app_git and in_git:
        commit = app_git[0].get('commit', '')
        r = subprocess.run(['git', '-C', src, 'merge-base', '--is-ancestor', commit, 'HEAD'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check(r.returncode == 0, 'the app is pinned to %s, which is not in this history' % commit)
        if r.returncode == 0:
            shown = subprocess.run(['git', '-C', src, 'show', commit + ':meson_options.txt'],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            check("option('server'" in shown.stdout,
                  'the pinned app commit predates -Dserver/-Dagent: it cannot build with these options')

    for f in failures:
        print('FAIL:', f)
    if not failures:
        print('manifest OK: %d modules, %d finish-args, app options %s'
              % (len(modules), len(args), ' '.join(opts)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
