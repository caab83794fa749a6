/**
 * `npm run bench:compare -- <git ref> [express|fastify]`: the HTTP run route's overhead in this
 * checkout against another commit's, measured in the same run. A worktree of the ref is built
 * beside this one; each build serves the same app (`lib/compare-server.ts`) from a process of its
 * own, and autocannon alternates between the two servers and their two routes, round after round.
 * Each server reports its own CPU time, so each build's run route is compared with its own bare
 * route, and the two builds with each other. For before/after claims in FIXES.md: on a shared
 * machine this is steadier than two runs of the HTTP bench minutes apart. Not part of RESULTS.md.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calcLoad } from './lib/calc-app.js';
import { LoadGenerator } from './lib/http-load.js';
import { fmt, median, ratio, rotate } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_COMPARE_ROUNDS ?? 16);
const ROUND_SECONDS = 0.6;
const CONNECTIONS = 10;
const ROUTES = {
  'bare route': '/bare/add',
  'run route': '/api/plugin-host/capabilities/calc.add/run',
} as const;

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..');

interface Server {
  build: string;
  url: string;
  child: ChildProcess;
  cpu(): Promise<number>;
}

/** Builds `ref` in a temporary worktree (sharing this checkout's node_modules); returns its dir. */
function buildRef(ref: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'plugin-host-compare-')), 'tree');
  execFileSync('git', ['worktree', 'add', '--detach', dir, ref], { cwd: ROOT, stdio: 'ignore' });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: dir,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [join(dir, 'scripts', 'copy-ui.mjs')], {
    cwd: dir,
    stdio: 'inherit',
  });
  return dir;
}

function serve(build: string, lib: string, platform: string): Promise<Server> {
  const child = fork(join(HERE, 'lib', 'compare-server.js'), [], {
    env: { ...process.env, BENCH_LIB: lib, BENCH_PLATFORM: platform },
  });
  let next = 0;
  const waiting = new Map<number, (cpu: number) => void>();
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${build} server exited with ${code}`)));
    child.on('message', (message: { url?: string; id?: number; cpu?: number }) => {
      if (message.url) {
        resolve({
          build,
          url: message.url,
          child,
          cpu: () =>
            new Promise((answer) => {
              const id = next++;
              waiting.set(id, answer);
              child.send({ id });
            }),
        });
      } else if (message.id !== undefined) {
        waiting.get(message.id)?.(message.cpu!);
        waiting.delete(message.id);
      }
    });
  });
}

async function main(): Promise<void> {
  const [ref, platform = 'fastify'] = process.argv.slice(2);
  if (!ref || (platform !== 'express' && platform !== 'fastify')) {
    console.error('Usage: npm run bench:compare -- <git ref> [express|fastify]');
    process.exit(2);
  }
  const tree = buildRef(ref);
  const servers: Server[] = [];
  const load = LoadGenerator.start();
  try {
    servers.push(await serve(ref, join(tree, 'dist', 'index.js'), platform));
    servers.push(await serve('this checkout', join(ROOT, 'dist', 'index.js'), platform));
    const cells = servers.flatMap((server) =>
      (Object.keys(ROUTES) as Array<keyof typeof ROUTES>).map((route) => ({
        server,
        route,
        cpu: [] as number[],
        perSecond: [] as number[],
      })),
    );
    const job = (url: string, seconds: number) => calcLoad(url, seconds, CONNECTIONS);
    for (const cell of cells) await load.run(job(`${cell.server.url}${ROUTES[cell.route]}`, 1));
    for (let round = 0; round < ROUNDS; round++) {
      for (const cell of rotate(cells, round)) {
        const before = await cell.server.cpu();
        const result = await load.run(
          job(`${cell.server.url}${ROUTES[cell.route]}`, ROUND_SECONDS),
        );
        const used = (await cell.server.cpu()) - before;
        if (result.failed > 0) throw new Error(`${cell.route} of ${cell.server.build} failed`);
        cell.cpu.push(used / result.requests);
        cell.perSecond.push(result.perSecond);
      }
      process.stderr.write(`  round ${round + 1}/${ROUNDS}\n`);
    }
    console.log(
      `\n${platform}, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_SECONDS} s per route and build (medians)\n`,
    );
    console.log(
      'build            route        server CPU µs/req   CPU vs bare (paired)   req/s vs bare',
    );
    for (const server of servers) {
      const bare = cells.find((cell) => cell.server === server && cell.route === 'bare route')!;
      for (const cell of cells.filter((c) => c.server === server)) {
        const paired = median(cell.cpu.map((cpu, i) => bare.cpu[i] / cpu));
        const perSecond = median(cell.perSecond.map((rate, i) => rate / bare.perSecond[i]));
        console.log(
          `${server.build.padEnd(16)} ${cell.route.padEnd(12)} ${fmt(median(cell.cpu), 1).padStart(17)}   ${ratio(paired).padStart(20)}   ${ratio(perSecond).padStart(13)}`,
        );
      }
    }
  } finally {
    load.stop();
    for (const server of servers) server.child.kill();
    execFileSync('git', ['worktree', 'remove', '--force', tree], { cwd: ROOT, stdio: 'ignore' });
    rmSync(join(tree, '..'), { recursive: true, force: true });
  }
}

await main();
