'use strict';
// SPEC 12: `--version` on every program, from one place: project(VERSION) in CMakeLists.txt,
// plus `git describe` when built from a checkout (cmake/version.cmake -> kds_version.h).

const { it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SOURCE_DIR } = require('../lib/harness');
const { run } = require('../lib/proc');

const BUILD_DIR = process.env.KDS_BUILD_DIR || path.join(SOURCE_DIR, 'build');
const VERSION = /project\(kds VERSION (\d+\.\d+\.\d+)/.exec(fs.readFileSync(path.join(SOURCE_DIR, 'CMakeLists.txt'), 'utf8'))[1];
const { spawnSync } = require('node:child_process');
// A checkout with git at hand: the build adds `git describe` (cmake/version.cmake).
const inGit = fs.existsSync(path.join(SOURCE_DIR, '.git'))
  && spawnSync('git', ['-C', SOURCE_DIR, 'describe', '--always'], { encoding: 'utf8' }).status === 0;

for (const prog of ['kds-server', 'kds-tui', 'kds-bench']) {
  it(`${prog} --version prints the project's version${inGit ? ' and git describe' : ''}`, () => {
    const out = run(path.join(BUILD_DIR, prog), ['--version']);
    const m = /^(\S+) (\d+\.\d+\.\d+)(?: \(git ([\w.-]+)\))?\n$/.exec(out);
    assert.ok(m, `unexpected output ${JSON.stringify(out)}`);
    assert.equal(m[1], prog);
    assert.equal(m[2], VERSION);
    if (inGit) assert.ok(m[3], 'a checkout adds git describe');
  });
}
