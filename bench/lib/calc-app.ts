import { Body, Controller, HttpCode, Injectable, Post, type Type } from '@nestjs/common';
import type { Capability as CapabilityDecorator } from 'nest-plugin-host';
import { loopback, type LoadJob } from './http-load.js';

/** The body every HTTP benchmark request sends. */
export const CALC_BODY = JSON.stringify({ n: 41 });

/** An autocannon run of POSTs of {@link CALC_BODY} to a loopback `url`. */
export function calcLoad(url: string, seconds: number, connections: number): LoadJob {
  return {
    url: loopback(url),
    method: 'POST',
    body: CALC_BODY,
    headers: { 'content-type': 'application/json' },
    connections,
    seconds,
  };
}

/** What the HTTP benchmarks' routes run: the `calc.add` capability and what it calls. */
export interface Adder {
  add(input: { n?: number }): Promise<{ sum: number }>;
}

/**
 * The providers the HTTP benchmarks serve, decorated with the `Capability` of the library build
 * under test: `Calculator` (capability `calc.add`) and `BareController` (`POST /bare/add`, the
 * baseline: a plain route calling the same method).
 */
export function calcApp(Capability: typeof CapabilityDecorator): {
  Calculator: Type<Adder>;
  BareController: Type;
} {
  async function add(input: { n?: number }): Promise<{ sum: number }> {
    return { sum: (input.n ?? 0) + 1 };
  }

  @Injectable()
  class Calculator implements Adder {
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

  return { Calculator, BareController };
}
