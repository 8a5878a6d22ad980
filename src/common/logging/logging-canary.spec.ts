import { ConsoleLogger, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadAppConfig, secretsOf } from '../../config/app-config';
import { appResponseClass, createAccessLogMiddleware } from './access-log.middleware';
import { AppLogger, CaptureDestination } from './app-logger';
import { requestIdMiddleware } from './request-id.middleware';
import { registerSecret, sharedSecretRegistry } from './secret-registry';

/**
 * Plants a unique canary in every kind of credential a line could carry —
 * known secrets (provider key, a runtime-registered API key, database
 * passwords, one with `%` and `@`) and unknown ones that only patterns can
 * catch (cookie, `?access_token=`, `Authorization: Bearer`, a URL credential
 * in an Error's message and stack, `sslpassword=`, `OPENAI_API_KEY=`) — logs
 * them every way the app can (start-up lines, Nest loggers, errors, objects,
 * access lines over real HTTP) and asserts that no byte of any line holds a
 * canary, and that every line is JSON with the expected keys.
 */
describe('no log line carries a credential', () => {
  const run = randomBytes(6).toString('hex');
  const canaries: string[] = [];
  const canary = (what: string) => {
    const value = `CANARY${what.toUpperCase()}${run}`;
    canaries.push(value);
    return value;
  };

  const provider = canary('provider');
  const apiKey = canary('apikey');
  const dbPasswordStem = canary('dbpw');
  const dbPassword = `${dbPasswordStem}%of@f`; // a % that starts no escape, and an unencoded @
  const dbPassword2 = canary('dbpwsimple');
  const cookie = canary('cookie');
  const query = canary('accesstoken');
  const bearer = canary('bearer');
  const urlCredential = canary('urlcred');
  const pgUnknown = canary('pgunknown');
  const sslPassword = canary('sslpw');
  const envKey = canary('envkey');

  const destination = new CaptureDestination();
  let logger: AppLogger;
  let server: Server;

  afterAll(async () => {
    Logger.overrideLogger(new ConsoleLogger());
    sharedSecretRegistry.delete(apiKey);
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('drives every kind of line', async () => {
    // Start-up, as main.ts: the logger (shared registry) exists and is Nest's static logger before the config is read.
    logger = new AppLogger({ destination });
    Logger.overrideLogger(logger);
    const config = loadAppConfig({ WORKER_PROVIDER_API_KEY: provider, RUNTIME_STORE_URL: `postgres://app:${dbPassword}@db:5432/x` } as NodeJS.ProcessEnv);
    const config2 = loadAppConfig({ RUNTIME_STORE_URL: `postgres://app:${dbPassword2}@db/x?sslmode=require` } as NodeJS.ProcessEnv);
    logger.registerSecrets(secretsOf(config));
    logger.registerSecrets(secretsOf(config2));
    const boot = new Logger('Bootstrap');
    boot.log(`store postgres://app:${dbPassword}@db:5432/x (${config.embedded.store.kind}), provider key ${provider}`);
    boot.log(`password as the driver sees it: ${decodeURIComponent(encodeURIComponent(dbPassword))}, encoded ${encodeURIComponent(dbPassword)}`);
    boot.warn(`second store password=${dbPassword2}; env OPENAI_API_KEY=${envKey}`);

    // Run time: an API key is created, then shows up everywhere.
    registerSecret(apiKey);
    new Logger('Keys').log(`created key ${apiKey} for admin`);
    new Logger('Keys').debug({ created: { secretValue: apiKey, hash: 'sha256:abc' } });

    // Errors: message and stack carry a URL credential, an unknown postgres password, provider key.
    const err = new Error(`provider https://svc:${urlCredential}@api.example.com/v1 rejected ${provider}`);
    new Logger('Provider').error(err);
    new Logger('Provider').error('request failed', err.stack);
    const pgErr = new Error(`connection to postgres://u:${pgUnknown}@db.internal/app refused`, { cause: new Error(`sslpassword=${sslPassword}`) });
    new Logger('Store').error(pgErr);
    logger.fatal(pgErr.stack ?? '', 'ExceptionFilter');
    new Logger('Store').warn(`libpq: host=db user=u sslpassword=${sslPassword} sslmode=require`);
    new Logger('Http').verbose(`Cookie: wb_session=${cookie}; theme=dark`);
    new Logger('Http').log(`Authorization: Bearer ${bearer}`);
    new Logger('Http').log(`callback GET /cb?access_token=${query}&state=1`);
    new Logger('Http').log({ headers: { authorization: `Bearer ${bearer}`, cookie: `sid=${cookie}` }, db: { password: dbPassword2 } });
    logger.pino.info({ req: { headers: { cookie: `sid=${cookie}`, 'x-api-key': apiKey } }, nested: { deeper: { apiKey: 'x', token: query } } }, 'structured');

    // Access lines over real HTTP.
    const requestId = requestIdMiddleware();
    const accessLog = createAccessLogMiddleware({ logger });
    server = createServer({ ServerResponse: appResponseClass() }, (req, res) =>
      requestId(req, res, () =>
        accessLog(req, res, () => {
          const path = (req.url ?? '').split('?')[0];
          res.setHeader('content-type', 'application/json; charset=utf-8');
          if (path.startsWith('/api/things/')) {
            res.setHeader('Set-Cookie', `wb_session=${cookie}`);
            return void res.end(JSON.stringify({ ok: true }));
          }
          if (path === '/api/fail') new Logger('ExceptionFilter').error(new Error(`upstream https://u:${urlCredential}@host failed`));
          res.statusCode = path === '/api/fail' ? 500 : 404;
          res.end(JSON.stringify({ error: path === '/api/fail' ? 'internal_error' : 'not_found' }));
        }),
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const get = (path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    const headers = {
      authorization: `Bearer ${bearer}`,
      cookie: `wb_session=${cookie}`,
      'x-api-key': apiKey,
      'user-agent': `probe OPENAI_API_KEY=${envKey}`,
      'x-request-id': 'req-1',
    };
    expect(await get(`/api/things/${apiKey}?access_token=${query}&q=${encodeURIComponent(provider)}&p=${encodeURIComponent(dbPassword)}`, headers)).toBe(200);
    expect(await get(`/api/fail?sessionToken=${query}`, headers)).toBe(500);
    for (let i = 0; i < 100 && destination.lines.filter((l) => l.includes('"context":"HTTP"')).length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  });

  it('no line holds any byte of a canary', () => {
    expect(destination.lines).toHaveLength(18);
    for (const line of destination.lines) {
      for (const c of canaries) {
        if (line.includes(c)) throw new Error(`a log line leaked ${c}: ${line}`);
      }
    }
  });

  it('every line is JSON with level, time and msg; access lines have exactly the access keys', () => {
    const lines = destination.lines.map((l) => JSON.parse(l) as Record<string, any>);
    for (const l of lines) {
      expect(l).toEqual(expect.objectContaining({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) }));
      expect(Object.keys(l).slice(0, 2)).toEqual(['level', 'time']);
      expect(Object.keys(l).at(-1)).toBe('msg');
    }
    const access = lines.filter((l) => l.context === 'HTTP' && 'reqId' in l);
    expect(access).toHaveLength(2);
    for (const l of access) {
      expect(Object.keys(l)).toEqual(['level', 'time', 'context', 'reqId', 'method', 'url', 'status', 'durationMs', 'bytes', 'headers', 'msg']);
      expect(Object.keys(l.headers)).toEqual(['user-agent']);
      expect(l.reqId).toBe('req-1');
    }
    expect(access.map((l) => l.status)).toEqual([200, 500]);
    const errors = lines.filter((l) => l.err);
    expect(errors.length).toBeGreaterThanOrEqual(4);
    for (const l of errors) expect(Object.keys(l.err)).toEqual(expect.arrayContaining(['type', 'message', 'stack']));
    // the operator still learns what happened
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining([expect.stringContaining('created key [redacted] for admin'), 'request completed']));
  });
});
