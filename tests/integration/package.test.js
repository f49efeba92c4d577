'use strict';
// SPEC 12: `cpack -G DEB` makes kds_<version>_amd64.deb. The test builds it, reads its control
// fields and contents, installs it into a throwaway root (dpkg --root with chrootless
// maintainer scripts: the kds user, /var/lib/kds and the first admin are made there), runs
// the installed server from / on the database the package made, logs in as that admin, and
// checks the units with systemd-analyze (verify; security --offline) when it exists.
// Once per suite: the release build runs it, the sanitizer build skips it.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { api, SOURCE_DIR } = require('../lib/harness');
const { spawnUntil, run } = require('../lib/proc');

const BUILD_DIR = process.env.KDS_BUILD_DIR || path.join(SOURCE_DIR, 'build');
const CPACK = process.env.KDS_CPACK || 'cpack';
const VERSION = /project\(kds VERSION (\d+\.\d+\.\d+)/.exec(fs.readFileSync(path.join(SOURCE_DIR, 'CMakeLists.txt'), 'utf8'))[1];
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const isRoot = process.getuid && process.getuid() === 0;

const skip = (process.env.KDS_BUILD_TYPE === 'Asan' && 'once per suite: the release build packages')
  || (!has('dpkg-deb') && 'dpkg-deb is missing') || (!fs.existsSync(CPACK) && !has(CPACK) && 'cpack is missing');

describe('the Debian package', { skip }, () => {
  let tmp; let deb; let root;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-deb-'));
    run(CPACK, ['-G', 'DEB', '-B', tmp, '--config', path.join(BUILD_DIR, 'CPackConfig.cmake')], { timeout: 240000 });
    deb = path.join(tmp, `kds_${VERSION}_amd64.deb`);
    root = path.join(tmp, 'root');
  });
  after(() => { if (tmp && !process.env.KDS_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true }); });

  it(`is kds_${VERSION}_amd64.deb with its control fields and runtime dependencies`, () => {
    assert.ok(fs.existsSync(deb), `${deb} was made`);
    const field = (f) => run('dpkg-deb', ['-f', deb, f]).trim();
    assert.equal(field('Package'), 'kds');
    assert.equal(field('Version'), VERSION);
    assert.equal(field('Architecture'), 'amd64');
    assert.ok(field('Maintainer') && field('Description'));
    const depends = field('Depends').split(/,\s*/).map((d) => d.split(' ')[0]);
    for (const lib of ['libc6', 'libuv1', 'libsqlite3-0', 'libcjson1', 'libwslay1', 'libssl3', 'libncursesw6', 'passwd']) {
      assert.ok(depends.includes(lib), `Depends has ${lib}: ${depends}`);
    }
    // Every library the binaries link is declared (ldd -> the Debian package owning it).
    if (has('ldd') && has('dpkg-query')) {
      const libs = new Set();
      for (const b of ['kds-server', 'kds-tui']) {
        for (const m of run('ldd', [path.join(BUILD_DIR, b)]).matchAll(/=> (\/\S+)/g)) {
          // Debian 12 registers some libraries under /lib, some under /usr/lib: ask for both.
          const real = fs.realpathSync(m[1]).replace(/^\/lib\//, '/usr/lib/');
          for (const f of [real, real.replace(/^\/usr\/lib\//, '/lib/')]) {
            const r = spawnSync('dpkg-query', ['-S', f], { encoding: 'utf8' });
            if (r.status === 0) libs.add(r.stdout.split(':')[0]);
          }
        }
      }
      assert.ok(libs.size >= 8, `ldd + dpkg-query found the linked packages: ${[...libs]}`);
      for (const p of libs) {
        if (!/^lib(asan|ubsan|gcc-s|stdc\+\+)/.test(p)) assert.ok(depends.includes(p), `${p} (linked) is in Depends`);
      }
    }
    const info = run('dpkg-deb', ['-I', deb]);
    for (const s of ['postinst', 'prerm', 'postrm', 'conffiles']) assert.match(info, new RegExp(`\\b${s}\\b`));
    const ctl = path.join(tmp, 'control');
    run('dpkg-deb', ['-e', deb, ctl]);
    assert.equal(fs.readFileSync(path.join(ctl, 'conffiles'), 'utf8').trim(), '/etc/default/kds');
  });

  // apt on an empty system (an empty dpkg status) resolves the Depends from Debian 12's
  // archive: what `apt install ./kds_*.deb` pulls on a fresh machine. Needs the apt lists.
  const lists = fs.existsSync('/var/lib/apt/lists') && fs.readdirSync('/var/lib/apt/lists').some((f) => f.endsWith('_Packages'));
  it('resolves on a fresh system: apt install -s with an empty dpkg status', { skip: (!lists || !has('apt-get')) && 'no apt lists' }, () => {
    const empty = path.join(tmp, 'empty-status');
    fs.writeFileSync(empty, '');
    const out = run('apt-get', ['install', '-s', '-o', `Dir::State::status=${empty}`, deb]);
    for (const p of ['kds', 'libuv1', 'libsqlite3-0', 'libcjson1', 'libwslay1', 'libssl3', 'libncursesw6']) {
      assert.match(out, new RegExp(`^Inst ${p.replace(/[+.]/g, '\\$&')} `, 'm'), `apt would install ${p}`);
    }
  });

  it('holds the programs, the pages, the bundles, the units, /etc/default/kds and the man pages', () => {
    const files = run('dpkg-deb', ['-c', deb]).split('\n').map((l) => l.split(/\s+/).pop());
    for (const f of ['./usr/bin/kds-server', './usr/bin/kds-tui', './usr/bin/kds-bench', './usr/share/kds/public/index.html',
      './usr/share/kds/socket.io-client/socket.io.js', './usr/share/kds/chart.js/chart.umd.js',
      './lib/systemd/system/kds-server.service', './lib/systemd/system/kds-backup.service',
      './lib/systemd/system/kds-backup.timer', './etc/default/kds', './usr/share/man/man1/kds-server.1.gz',
      './usr/share/man/man1/kds-tui.1.gz']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    const unit = fs.readFileSync(path.join(SOURCE_DIR, 'deploy/systemd/kds-server.service'), 'utf8');
    for (const line of ['User=kds', 'StateDirectory=kds', 'EnvironmentFile=-/etc/default/kds', 'Restart=on-failure',
      'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes']) {
      assert.ok(unit.split('\n').includes(line), `kds-server.service has ${line}`);
    }
  });

  it('installs into a throwaway root: the kds user, /var/lib/kds, a first admin, a working server', async () => {
    let db; let password = null;
    if (isRoot) {
      // An empty dpkg database and the root entries of the account files; the maintainer
      // scripts run on the host with DPKG_ROOT set (they honour it).
      fs.mkdirSync(path.join(root, 'var/lib/dpkg/info'), { recursive: true });
      fs.mkdirSync(path.join(root, 'var/lib/dpkg/updates'), { recursive: true });
      fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
      fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
      for (const f of ['passwd', 'group', 'shadow', 'gshadow']) {
        const mine = fs.existsSync(`/etc/${f}`) ? fs.readFileSync(`/etc/${f}`, 'utf8').split('\n').filter((l) => l.startsWith('root:')) : [];
        fs.writeFileSync(path.join(root, 'etc', f), `${mine.join('\n')}\n`, { mode: f.includes('sha') ? 0o640 : 0o644 });
      }
      const out = run('dpkg', ['--root', root, '--log', '/dev/null', '--force-depends', '--force-script-chrootless', '-i', deb]);
      assert.match(out, /initial-admin-password/, 'the first install says where the admin password is');
      assert.match(out, /token/, 'and how to make tokens');
      assert.match(fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8'), /^kds:x:\d+:\d+:.*:\/var\/lib\/kds:\/usr\/sbin\/nologin$/m);
      const pwFile = path.join(root, 'var/lib/kds/initial-admin-password');
      assert.equal(fs.statSync(pwFile).mode & 0o777, 0o600);
      password = fs.readFileSync(pwFile, 'utf8').trim();
      db = path.join(root, 'var/lib/kds/kds.db');
      const kdsUid = Number(/^kds:x:(\d+):/m.exec(fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8'))[1]);
      assert.equal(fs.statSync(db).uid, kdsUid, 'the store belongs to kds');
      assert.equal(fs.statSync(path.join(root, 'var/lib/kds')).mode & 0o777, 0o750);
    } else {
      run('dpkg-deb', ['-x', deb, root]);
      db = path.join(tmp, 'kds.db');
      password = 'admin-secret';
      run(path.join(root, 'usr/bin/kds-server'), ['--db', db, 'useradd', 'admin', '--role', 'admin'], { input: `${password}\n` });
    }
    const srv = await spawnUntil(path.join(root, 'usr/bin/kds-server'), ['--host', '127.0.0.1', '--port', '0', '--db', db, '--demo'], { cwd: '/' });
    try {
      const login = await api(srv.url, 'POST', '/api/v1/auth/login', { body: { username: 'admin', password } });
      assert.equal(login.status, 200, login.text);
      const products = await api(srv.url, 'GET', '/api/v1/products', { token: login.json.token });
      assert.equal(products.status, 200);
      assert.equal((await api(srv.url, 'GET', '/')).status, 200);
      const bundle = await api(srv.url, 'GET', '/socket.io/socket.io.js');
      assert.equal(bundle.status, 200, 'the bundle from <root>/usr/share/kds');
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    }
  });

  it('its units pass systemd-analyze verify, and security rates the server OK', { skip: !has('systemd-analyze') && 'no systemd-analyze' }, () => {
    if (!fs.existsSync(path.join(root, 'lib/systemd/system'))) run('dpkg-deb', ['-x', deb, root]);
    // verify checks that the commands exist in the root: stand-ins for the two host tools.
    for (const f of ['bin/sh', 'usr/bin/find']) {
      const p = path.join(root, f);
      if (!fs.existsSync(p)) {
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, '#!/bin/true\n', { mode: 0o755 });
      }
    }
    for (const unit of ['kds-server.service', 'kds-backup.service', 'kds-backup.timer']) {
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, `/lib/systemd/system/${unit}`], {
        encoding: 'utf8', env: { ...process.env, MANPATH: path.join(root, 'usr/share/man') },
      });
      // The throwaway root has no sysinit.target (the default dependencies); anything else fails.
      const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l && !/Unit sysinit\.target not found/.test(l));
      assert.deepEqual(complaints, [], `${unit}: ${complaints.join('\n')}`);
    }
    const sec = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, 'kds-server.service'], { encoding: 'utf8' });
    const m = /Overall exposure level for kds-server\.service: (\d+\.\d+)/.exec(`${sec.stdout}${sec.stderr}`);
    assert.ok(m, `systemd-analyze security: ${sec.stdout}${sec.stderr}`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} (at most 2.0)`);
  });
});
