import type { LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createServer, type RequestListener } from 'node:http';
import { AppModule } from './app.module';
import { ApiKeys } from './auth/api-keys.service';
import { GENERATED_KEY_SHAPE } from './auth/auth.constants';
import { authMiddleware } from './auth/auth.middleware';
import { RateLimiter } from './auth/rate-limiter';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { isApiPath } from './common/http/api-path';
import { corsMiddleware } from './common/http/cors.middleware';
import { hostCheckMiddleware } from './common/http/host-check.middleware';
import { hardenHttpServer } from './common/http/http-server';
import { jsonBodyMiddleware, METHODS_WITH_BODY } from './common/http/json-body.middleware';
import { methodNotAllowedMiddleware } from './common/http/method-not-allowed.middleware';
import { type Middleware, middlewareChain, only, type PipelineRequest, pipelineRequestOf } from './common/http/middleware-chain';
import { refuseUnroutableTargets, routedPathOf } from './common/http/request-target.middleware';
import { securityHeaders } from './common/http/security-headers';
import { AllowListFastifyAdapter } from './common/serialization/allow-list-fastify.adapter';
import { appResponseClass, createAccessLogMiddleware } from './common/logging/access-log.middleware';
import { AppLogger } from './common/logging/app-logger';
import { requestIdMiddleware } from './common/logging/request-id.middleware';
import { registerSecretPattern } from './common/logging/secret-registry';
import { createValidationPipe } from './common/pipes/validation';
import { type AppConfig, secretsOf } from './config/app-config';
import { setupOpenApi } from './openapi';

export interface CreateAppOptions {
  /** Replaces the app's JSON logger (tests pass an AppLogger writing to a CaptureDestination). */
  logger?: LoggerService;
  logLevels?: LogLevel[];
}

/**
 * Builds the whole application exactly as production runs it; `main.ts`,
 * the e2e tests, the OpenAPI writer and the benchmarks all go through here.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  // Built first and handed to Nest: every line, from the first start-up one on, is redacted JSON.
  const logger = options.logger ?? new AppLogger();
  if (logger instanceof AppLogger) logger.registerSecrets(secretsOf(config));
  // Keys created before a restart are known only by their hash: redact them by shape.
  registerSecretPattern(GENERATED_KEY_SHAPE);
  // LOG_LEVEL applies to the app's own logger; a logger passed in (tests) keeps its levels unless told.
  const levels = options.logLevels ?? (options.logger ? undefined : config.logLevels);
  if (levels) logger.setLogLevels?.(levels);
  const adapter = new AllowListFastifyAdapter({
    // Responses of a class of this server's own: the access log counts bytes on its prototype, not per response.
    serverFactory: (handler: RequestListener) => createServer({ ServerResponse: appResponseClass() }, handler),
    // close() after the graceful drain (shutdown.ts) must not wait on keep-alive or streaming connections.
    forceCloseConnections: true,
    routerOptions: {
      // `useSemicolonDelimiter` stays unset (off): routedPathOf (request-target.middleware.ts) decodes as
      // the router does with it off (setting it at the top level only earns a deprecation warning).
      // One spelling per route: `/API/runtimes` must not reach the controllers past every check keyed on `/api/`.
      caseSensitive: true,
      // `/api/runtimes/` is `/api/runtimes`: clients (and test/support/contract.ts) take a trailing slash as the same route.
      ignoreTrailingSlash: true,
      // A path id is checked by the identifier guard (400 invalid_identifier, ≤ 120 characters); the
      // router's own limit (100) would answer a longer one first, with 414. Node refuses a request line
      // past its 16 KiB header limit (431) before this could.
      maxParamLength: 16 * 1024,
    },
    // A URL the router cannot decode (`/api/runtimes/%zz`) fails before any hook runs: it still goes
    // through the pipeline (request id, access line, headers, host check), then is a 400 in our shape.
    // The adapter is made before the app, so the pipeline is handed over once configureApp has built it.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => answerFrameworkError(pipeline, error, request, reply),
  });
  let pipeline: Middleware | undefined;
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger,
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(logger);
  pipeline = configureApp(app, config, logger);
  return app;
}

/**
 * The request pipeline, in the order SPEC §11 and §6 decide errors: request
 * id and access log; security headers; host check (403); a target the
 * router cannot route (400); CORS and preflights; authentication (401),
 * rate limit (429) and scope (403) — before any body is read; then, on
 * /api only, unknown method on a known path (405) and, for a matched
 * route, the body (413/415/400); then Nest: path ids (400), query and body
 * validation (400), and the registry's 404/501/404 order.
 *
 * The stages run in one Fastify `onRequest` hook, on Node's request and
 * response: after the router has matched (so they see the route), before
 * any body is read or any handler runs. One function call per request
 * rather than an @fastify/middie dispatch per stage (what Nest's
 * `app.use()` registers). Returns the pipeline, for the router's own errors.
 */
function configureApp(app: NestFastifyApplication, config: AppConfig, logger: LoggerService): Middleware {
  app.setGlobalPrefix('api');
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  hardenHttpServer(fastify.server, config.http);
  // The 405 table comes from the OpenAPI document that setupOpenApi (below) builds on first need. That call
  // also registers the explorer's routes, which must come after this hook so that it runs for them. Until
  // then the stage passes (no request arrives before listen).
  let methodNotAllowed: Middleware = (_req, _res, next) => next();
  const pipeline = middlewareChain([
    requestIdMiddleware(),
    ...(logger instanceof AppLogger ? [createAccessLogMiddleware({ logger })] : []),
    securityHeaders(),
    hostCheckMiddleware(config.http.allowedHosts),
    refuseUnroutableTargets(),
    corsMiddleware(config.http.corsOrigins),
    authMiddleware(app.get(ApiKeys), {
      disabled: config.auth.disabled,
      rateLimit: config.auth.rateLimitPerMinute === null ? null : { limiter: new RateLimiter(config.auth.rateLimitPerMinute), perMinute: config.auth.rateLimitPerMinute },
    }),
    // Outside /api (the explorer, unknown paths) the router answers: its not-found handler is Nest's, a JSON 404.
    only(
      (req) => isApiPath(req.path),
      middlewareChain([
        (req, res, next) => methodNotAllowed(req, res, next),
        // No body is read for a request that will be a 404.
        only((req) => req.route !== undefined, jsonBodyMiddleware()),
      ]),
    ),
  ]);
  // onRequest runs once the router has matched (or not): the stages see the route it chose.
  fastify.addHook('onRequest', (request, reply, done) => {
    const req = pipelineRequestOf(request);
    prepareForPipeline(req, request.routeOptions.url);
    let settled = false;
    // next(err) → done(err): Fastify hands the error to the error handler Nest installs
    // (RoutesResolver.registerExceptionHandler), which runs the global AllExceptionsFilter registered below.
    pipeline(req, reply.raw, (err) => {
      settled = true;
      done(err as Error | undefined);
    });
    // A stage answered by itself (only the CORS preflight does, synchronously): the reply must not answer too.
    if (!settled && reply.raw.writableEnded) reply.hijack();
  });
  // jsonBodyMiddleware has read and checked the body. Fastify must neither read it again nor refuse a
  // Content-Type: a catch-all parser hands ours over (Fastify calls it only when there is a body), and
  // preValidation hands over the `{}` set for an empty one.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request, _payload, done) => done(null, pipelineRequestOf(request).body));
  fastify.addHook('preValidation', (request, _reply, done) => {
    const body = pipelineRequestOf(request).body;
    if (body !== undefined) request.body = body;
    done();
  });
  const openApiDocument = setupOpenApi(app);
  methodNotAllowed = methodNotAllowedMiddleware(() => openApiDocument().paths as Record<string, Record<string, unknown>>);
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(EXCEPTION_FILTER);
  return pipeline;
}

/** The one exception filter: Nest's global filter, and the answer to the router's own errors. Stateless. */
const EXCEPTION_FILTER = new AllExceptionsFilter();

/** An error the router raised before any hook ran (see `frameworkErrors` above): through the pipeline, then the filter. */
function answerFrameworkError(pipeline: Middleware | undefined, error: Error, request: FastifyRequest, reply: FastifyReply): void {
  const req = pipelineRequestOf(request);
  prepareForPipeline(req, undefined);
  // No pipeline yet: configureApp has not run, so no request can have arrived; answered all the same.
  if (!pipeline) return EXCEPTION_FILTER.answer(reply, error);
  pipeline(req, reply.raw, (err) => EXCEPTION_FILTER.answer(reply, err ?? error));
}

/**
 * Sets what the stages decide on (the router's path, UNROUTABLE_PATH for a
 * target it cannot route, and the matched route) and drops the Content-Type
 * of a request whose body is never read: Fastify would still check it, and
 * refuse one it cannot parse with a 415, for a body nobody reads.
 */
function prepareForPipeline(req: PipelineRequest, route: string | undefined): void {
  req.path = routedPathOf(req.url ?? '');
  req.route = route;
  if (!METHODS_WITH_BODY.has(req.method ?? '')) delete req.headers['content-type'];
}
