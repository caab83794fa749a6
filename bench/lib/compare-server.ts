/**
 * The app `bench/compare.ts` runs once per build: the run route and a bare route calling the same
 * function (as in the HTTP bench), with the library imported from `BENCH_LIB` (a build's
 * `dist/index.js`). Answers `cpu` messages with its CPU time so far, in microseconds.
 */
import { Body, Controller, HttpCode, Injectable, Module, Post, type Type } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { listen, type Platform } from './apps.js';

type Library = typeof import('nest-plugin-host');
const library = (await import(process.env.BENCH_LIB!)) as Library;
const { Capability, PluginHostModule } = library;

async function add(input: { n?: number }): Promise<{ sum: number }> {
  return { sum: (input.n ?? 0) + 1 };
}

@Injectable()
class Calculator {
  @Capability('calc.add')
  add(input: { n?: number }) {
    return add(input);
  }
}

@Controller('bare')
class BareController {
  constructor(private readonly calculator: Calculator) {}

  @Post('add')
  @HttpCode(200)
  async add(@Body() body: { n?: number }) {
    return { output: await this.calculator.add(body) };
  }
}

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
