import { ConsoleLogger, Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AppLogger, CaptureDestination, REDACT_PATHS, routeConsoleTo } from './app-logger';
import { REDACTED, SecretRegistry } from './secret-registry';

function setup(secrets: string[] = []) {
  const destination = new CaptureDestination();
  const registry = new SecretRegistry();
  const logger = new AppLogger({ registry, secrets, destination });
  const parsed = () => destination.lines.map((l) => JSON.parse(l) as Record<string, any>);
  return { logger, destination, registry, parsed };
}

describe('AppLogger', () => {
  afterEach(() => Logger.overrideLogger(new ConsoleLogger()));

  it('writes one JSON line per call: level, time, context, msg', () => {
    const { logger, destination, parsed } = setup();
    logger.log('hello', 'Ctx');
    logger.warn('careful');
    logger.debug('dbg', 'D');
    logger.verbose('v', 'V');
    expect(destination.lines).toHaveLength(4);
    const [a, b, c, d] = parsed();
    expect(Object.keys(a)).toEqual(['level', 'time', 'context', 'msg']);
    expect(a).toMatchObject({ level: 'info', context: 'Ctx', msg: 'hello' });
    expect(new Date(a.time).toISOString()).toBe(a.time);
    expect(Object.keys(b)).toEqual(['level', 'time', 'msg']);
    expect(b.level).toBe('warn');
    expect(c.level).toBe('debug');
    expect(d.level).toBe('trace');
  });

  it('takes the context from a Nest Logger instance and the static Logger', () => {
    const { logger, parsed } = setup();
    Logger.overrideLogger(logger);
    new Logger('Bootstrap').log('listening');
    new Logger('Svc').error('failed');
    Logger.warn('static', 'Static');
    expect(parsed().map((l) => [l.level, l.context, l.msg])).toEqual([
      ['info', 'Bootstrap', 'listening'],
      ['error', 'Svc', 'failed'],
      ['warn', 'Static', 'static'],
    ]);
  });

  it('logs errors as err {type, message, stack}, with code and cause, all redacted', () => {
    const { logger, parsed } = setup(['provider-key-value']);
    Logger.overrideLogger(logger);
    const cause = new Error('socket closed for provider-key-value');
    const err = Object.assign(new TypeError('connect postgres://u:pw-in-url@db/x failed', { cause }), { code: 'ECONNREFUSED' });
    new Logger('Store').error(err);
    logger.error('while saving', err.stack, 'Store');
    logger.fatal(err);
    const [first, second, third] = parsed();
    expect(Object.keys(first)).toEqual(['level', 'time', 'context', 'err', 'msg']);
    expect(first.err.type).toBe('TypeError');
    expect(first.err.message).toBe(`connect postgres://u:${REDACTED}@db/x failed`);
    expect(first.err.stack).toContain(`postgres://u:${REDACTED}@db/x`);
    expect(first.err.code).toBe('ECONNREFUSED');
    expect(first.err.cause).toMatchObject({ type: 'Error', message: `socket closed for ${REDACTED}` });
    expect(first.msg).toBe(`connect postgres://u:${REDACTED}@db/x failed`);
    expect(second).toMatchObject({ level: 'error', context: 'Store', msg: 'while saving', err: { type: 'TypeError' } });
    expect(second.err.stack).toContain('at ');
    expect(third.level).toBe('fatal');
    for (const line of parsed()) expect(JSON.stringify(line)).not.toMatch(/pw-in-url|provider-key-value/);
  });

  it('turns a stack trace passed as the message into msg (first line) and err', () => {
    const { logger, parsed } = setup();
    const stack = new Error('boom token=abc').stack!;
    logger.error(stack, 'ExceptionFilter');
    const [line] = parsed();
    expect(line.msg).toBe(`Error: boom token=${REDACTED}`);
    expect(line.err).toMatchObject({ type: 'Error', message: `boom token=${REDACTED}` });
    expect(line.err.stack).toContain('at ');
  });

  it('prints objects and extra parameters as text, redacted', () => {
    const { logger, parsed } = setup();
    logger.log({ user: 'u', password: 'pw' }, 'Ctx');
    logger.log('a', 'b', { apiKey: 'k' }, 'Ctx');
    expect(parsed().map((l) => l.msg)).toEqual([`{"user":"u","password":${REDACTED}}`, `a b {"apiKey":${REDACTED}}`]);
  });

  it('honours Nest log levels, including non-contiguous sets', () => {
    const { logger, destination } = setup();
    logger.setLogLevels(['error', 'log']);
    logger.warn('dropped');
    logger.debug('dropped');
    logger.log('kept');
    logger.error('kept');
    expect(destination.lines).toHaveLength(2);
    expect(logger.isLevelEnabled('warn')).toBe(false);
  });

  it('redacts secrets registered after the logger was created', () => {
    const { logger, destination } = setup();
    logger.log('key runtime-key-123 created');
    logger.registerSecret('runtime-key-123');
    logger.log('key runtime-key-123 used');
    expect(destination.lines[0]).toContain('runtime-key-123');
    expect(destination.lines[1]).not.toContain('runtime-key-123');
  });

  it('censors header and credential paths in logged objects (whole values: the structural layer)', () => {
    const { logger, parsed } = setup();
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['req.headers["authorization"]', 'req.headers["cookie"]', 'password', 'apiKey']));
    // Values are arrays/objects: pino's paths replace them whole by a string; the line pass alone would keep their shape.
    logger.pino.info(
      {
        req: {
          headers: {
            authorization: ['Bearer x'],
            cookie: ['c=1'],
            'set-cookie': ['d=2', 'e=3'],
            'proxy-authorization': ['p'],
            'x-api-key': ['k'],
            accept: '*/*',
          },
        },
        res: { headers: { 'set-cookie': ['s=1'] } },
        password: { value: 'pw' },
        apiKey: ['ak'],
      },
      'structured',
    );
    const [line] = parsed();
    expect(line.req.headers).toEqual({
      authorization: REDACTED,
      cookie: REDACTED,
      'set-cookie': REDACTED,
      'proxy-authorization': REDACTED,
      'x-api-key': REDACTED,
      accept: '*/*',
    });
    expect(line.res.headers['set-cookie']).toBe(REDACTED);
    expect(line.password).toBe(REDACTED);
    expect(line.apiKey).toBe(REDACTED);
  });

  it('redacts credential-named fields at any depth (the line pass)', () => {
    const { logger, parsed } = setup();
    logger.pino.info({ user: { password: 'pw', apiKey: 'ak', name: 'n' }, deep: { a: { b: { token: 't', refresh_token: 'r', list: [{ secret: 's' }] } } } }, 'nested');
    const [line] = parsed();
    expect(line.user).toEqual({ password: REDACTED, apiKey: REDACTED, name: 'n' });
    expect(line.deep.a.b).toEqual({ token: REDACTED, refresh_token: REDACTED, list: [{ secret: REDACTED }] });
  });

  it('start-up lines (before and while the app is created) go through the same redaction', async () => {
    const { logger, destination, parsed } = setup();
    // As main.ts does: the logger exists, and is the static one, before the config is read.
    Logger.overrideLogger(logger);
    new Logger('Bootstrap').fatal('configuration error: RUNTIME_STORE_URL postgres://app:startup-canary@db/x is unreachable');
    new Logger('Bootstrap').log('env OPENAI_API_KEY=startup-canary-2 ignored');
    logger.registerSecret('startup-canary-3');
    @Module({})
    class EmptyModule {}
    const app = await NestFactory.create(EmptyModule, new FastifyAdapter(), { logger, bufferLogs: true, abortOnError: false });
    app.useLogger(logger);
    await app.init(); // flushes the lines buffered during creation
    new Logger('Bootstrap').log('listening; bootstrap key startup-canary-3');
    await app.close();
    const text = destination.lines.join('\n');
    expect(text).not.toMatch(/startup-canary/);
    expect(parsed().map((l) => l.context)).toEqual(expect.arrayContaining(['Bootstrap', 'NestFactory', 'InstanceLoader', 'NestApplication']));
    expect(parsed().at(-1)!.msg).toBe(`listening; bootstrap key ${REDACTED}`);
    for (const l of parsed()) expect(Object.keys(l)).toEqual(['level', 'time', 'context', 'msg']);
  });
});

describe('routeConsoleTo', () => {
  it('makes each console call one redacted JSON line of ours, however many lines its text holds', () => {
    const { logger, destination } = setup(['sk-console-canary-1']);
    const restore = routeConsoleTo(logger);
    try {
      console.error('Could not parse message into JSON:', 'x sk-console-canary-1\n{"level":"error","msg":"forged"}');
      console.log('%s and %d', 'formatted', 42);
      console.dir({ secret: 'sk-console-canary-1' });
      console.warn('w');
      console.info('i');
      console.trace('t');
      console.group('g');
      console.table([1]);
    } finally {
      restore();
    }
    expect(destination.lines).toHaveLength(8);
    const [printed, formatted] = destination.lines.map((line) => JSON.parse(line));
    expect(printed).toMatchObject({ level: 'error', context: 'console' });
    expect(printed.msg).toContain(REDACTED);
    expect(destination.lines.join('\n')).not.toContain('sk-console-canary-1');
    expect(formatted).toMatchObject({ level: 'info', context: 'console', msg: 'formatted and 42' });
  });
});
