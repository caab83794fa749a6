import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('the packed tarball', () => {
  let work: string;
  let tarball: string;
  let files: string[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'nph-pack-'));
    // `npm pack` runs the prepack build, so this tests what a publish would ship.
    const packed = JSON.parse(
      run('npm', ['pack', '--json', '--pack-destination', work], ROOT),
    ) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    tarball = join(work, packed[0].filename);
    files = packed[0].files.map((f) => f.path);
    // A consumer folder whose parent's node_modules is the repo's (so peers resolve without a
    // registry), with the tarball unpacked as its own dependency.
    symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
  }, 120_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds dist/ (JS, .d.ts, source maps), the README and package.json only', () => {
    expect(
      files.every((f) => f.startsWith('dist/') || f === 'README.md' || f === 'package.json'),
    ).toBe(true);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/index.js.map');
    expect(files.some((f) => f.startsWith('dist/migrations/'))).toBe(true);
    // The admin page, copied by the build: plain files, nothing else under dist/ui/.
    expect(files.filter((f) => f.startsWith('dist/ui/')).sort()).toEqual([
      'dist/ui/app.css',
      'dist/ui/app.js',
      'dist/ui/index.html',
    ]);
    expect(files.some((f) => /spec|test\//.test(f))).toBe(false);
  });

  it.each(['module', 'commonjs'] as const)(
    'installs into a %s app that type-checks against the .d.ts, boots on SQLite, runs a capability over HTTP and serves the admin page',
    (type) => {
      const app = join(work, `app-${type}`);
      mkdirSync(join(app, 'node_modules'), { recursive: true });
      run('tar', ['-xzf', tarball, '-C', join(app, 'node_modules')], app);
      cpSync(join(app, 'node_modules', 'package'), join(app, 'node_modules', 'nest-plugin-host'), {
        recursive: true,
      });
      rmSync(join(app, 'node_modules', 'package'), { recursive: true });
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: `consumer-${type}`, type, private: true }),
      );
      mkdirSync(join(app, 'src'));
      cpSync(join(ROOT, 'test/src/consumer/main.ts'), join(app, 'src/main.ts'));
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            experimentalDecorators: true,
            emitDecoratorMetadata: true,
            types: ['node'],
            skipLibCheck: true,
            outDir: 'dist',
            rootDir: 'src',
          },
          include: ['src'],
        }),
      );
      // Type-checks the consumer against the shipped declarations.
      run(
        process.execPath,
        [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
        app,
      );
      const compiled = readdirSync(join(app, 'dist'));
      expect(compiled).toContain('main.js');
      const output = run(process.execPath, ['dist/main.js'], app).trim().split('\n').pop()!;
      expect(JSON.parse(output)).toEqual({
        status: 200,
        body: { output: { message: 'Hello, consumer!' } },
        version: 1,
        ui: [200, true, 200],
      });
    },
    120_000,
  );
});
