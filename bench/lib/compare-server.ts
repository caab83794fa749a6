/**
 * The app `bench/compare.ts` runs once per build: the run route and a bare route calling the same
 * function (as in the HTTP bench), with the library imported from `BENCH_LIB` (a build's
 * `dist/index.js`). Answers `cpu` messages with its CPU time so far, in microseconds.
 */
import { Module, type Type } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { listen, type Platform } from './apps.js';
import { calcApp } from './calc-app.js';

type Library = typeof import('nest-plugin-host');
const library = (await import(process.env.BENCH_LIB!)) as Library;
const { Capability, PluginHostModule } = library;

const { Calculator, BareController } = calcApp(Capability);

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    PluginHostModule.forRoot({ store: 'memory', allowAnonymous: true }),
  ],
  providers: [Calculator],
  controllers: [BareController],
})
class CompareModule {}

const { url } = await listen(CompareModule as Type, process.env.BENCH_PLATFORM as Platform);
process.on('message', (message: { id: number }) => {
  const { user, system } = process.cpuUsage();
  process.send!({ id: message.id, cpu: user + system });
});
process.send!({ url });
