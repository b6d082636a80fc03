#!/usr/bin/env python3
"""Builds the Debian packages from the tree, unpacks them into a scratch root
and runs the packaged mesh-server there on 127.0.0.1.

check-deb.py SOURCE_ROOT

Skipped (exit 77) where dpkg-buildpackage or debhelper is missing.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print('FAIL:', what, flush=True)


def run(argv, **kw):
    print('$', ' '.join(argv), flush=True)
    return subprocess.run(argv, check=True, **kw)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rest(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header('Content-Type', 'application/json')
    if token:
        req.add_header('Authorization', 'Bearer ' + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        return e.code, None


def main():
    src = os.path.abspath(sys.argv[1])
    for tool in ('dpkg-buildpackage', 'dh', 'dpkg-deb'):
        if shutil.which(tool) is None:
            print('SKIP: %s is not installed (bash .ci/deps installs it)' % tool)
            return SKIP

    with tempfile.TemporaryDirectory(prefix='mesh-deb-') as tmp:
        # A copy of the tree: the build writes debian/ and ../*.deb.
        tree = os.path.join(tmp, 'mesh')
        os.mkdir(tree)
        tar = subprocess.Popen(['tar', '-C', src, '--exclude=./.git', '--exclude=./_build*',
                                '--exclude=./build*', '--exclude=./obj-*', '--exclude=./bench/.node',
                                '--exclude=./bench/node_modules', '--exclude=./debian/.debhelper',
                                '--exclude=./debian/tmp', '-cf', '-', '.'], stdout=subprocess.PIPE)
        run(['tar', '-C', tree, '-xf', '-'], stdin=tar.stdout)
        tar.wait()

        env = dict(os.environ, DEB_BUILD_OPTIONS='nocheck noddebs parallel=%d' % (os.cpu_count() or 2))
        env.pop('DESTDIR', None)
        r = subprocess.run(['dpkg-buildpackage', '-b', '-us', '-uc'], cwd=tree, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            print(r.stdout[-20000:])
            print('FAIL: dpkg-buildpackage exited with', r.returncode)
            return 1

        debs = {f.split('_')[0]: os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith('.deb')}
        print('built:', ', '.join(sorted(os.path.basename(d) for d in debs.values())), flush=True)
        check('mesh-server' in debs, 'no mesh-server package')
        check('mesh-agent' in debs, 'no mesh-agent package')
        if failures:
            return 1

        contents = subprocess.run(['dpkg-deb', '-c', debs['mesh-server']], check=True,
                                  stdout=subprocess.PIPE, text=True).stdout
        for path in ('./usr/bin/mesh-server', './lib/systemd/system/mesh-server.service',
                     './etc/mesh-server/mesh-server.conf', './usr/share/man/man1/mesh-server.1.gz'):
            check(path in contents, 'mesh-server package lacks ' + path)
        depends = subprocess.run(['dpkg-deb', '-f', debs['mesh-server'], 'Depends'], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
        check('libsoup-3.0-0' in depends and 'libsqlite3-0' in depends,
              'shlibs Depends are missing: ' + depends.strip())
        with tempfile.TemporaryDirectory() as ctl:
            run(['dpkg-deb', '-e', debs['mesh-server'], ctl])
            conffiles = open(os.path.join(ctl, 'conffiles')).read()
            check('/etc/mesh-server/mesh-server.conf' in conffiles, 'the config is not a conffile')
            postinst = open(os.path.join(ctl, 'postinst')).read()
            check('deb-systemd-helper' in postinst and 'mesh-server.service' in postinst,
                  'postinst does not enable the unit')

        root = os.path.join(tmp, 'root')
        for name in ('mesh-server', 'mesh-agent'):
            run(['dpkg', '-x', debs[name], root])
        server = os.path.join(root, 'usr/bin/mesh-server')
        agent = os.path.join(root, 'usr/bin/mesh-agent')

        r = subprocess.run([agent, '--help'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        check(r.returncode == 0 and 'send' in r.stdout, 'the packaged mesh-agent --help failed')

        # The packaged config, pointed at a scratch data folder and a free port.
        data = os.path.join(tmp, 'data')
        port = free_port()
        conf = open(os.path.join(root, 'etc/mesh-server/mesh-server.conf')).read()
        conf = conf.replace('listen=127.0.0.1:8080', 'listen=127.0.0.1:%d' % port, 1)
        conf = conf.replace('#data-dir=/var/lib/mesh-server', 'data-dir=' + data, 1)
        conf = conf.replace('disabled=false', 'disabled=true')
        conf_path = os.path.join(tmp, 'mesh-server.conf')
        open(conf_path, 'w').write(conf)

        r = subprocess.run([server, '--config', conf_path, 'user', 'add', 'alice'],
                           input='packaged-password\n', stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0, 'user add failed: ' + r.stdout)

        proc = subprocess.Popen([server, '--config', conf_path], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            ready = proc.stdout.readline()
            check('ready' in ready, 'the packaged server did not start: ' + ready)
            base = 'http://127.0.0.1:%d/api/v1' % port
            status, body = rest(base, 'POST', '/auth/login',
                                {'username': 'alice', 'password': 'packaged-password'})
            check(status == 200 and body and body.get('access_token'),
                  'login on the packaged server: HTTP %s' % status)
            token = body.get('access_token') if body else None
            status, body = rest(base, 'POST', '/rooms', {'name': 'Packaged'}, token)
            check(status in (200, 201), 'creating a room: HTTP %s' % status)
            status, body = rest(base, 'GET', '/rooms', None, token)
            check(status == 200 and 'Packaged' in json.dumps(body),
                  'the room is not listed: HTTP %s %s' % (status, body))
            check(os.path.exists(os.path.join(data, 'mesh.db')), 'no database in the data folder')
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = None
        check(code == 0, 'the packaged server did not stop cleanly on SIGTERM (%s)' % code)

    if not failures:
        print('the packages build, unpack and serve REST on 127.0.0.1')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
