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
import { ApiError } from './common/errors/api-error';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { isApiPath } from './common/http/api-path';
import { corsMiddleware } from './common/http/cors.middleware';
import { hostCheckMiddleware } from './common/http/host-check.middleware';
import { hardenHttpServer } from './common/http/http-server';
import { jsonBodyMiddleware } from './common/http/json-body.middleware';
import { methodNotAllowedMiddleware } from './common/http/method-not-allowed.middleware';
import { type Middleware, middlewareChain, type PipelineRequest, routedPathOf } from './common/http/middleware-chain';
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
      // One spelling per route: `/API/runtimes` must not reach the controllers past every check keyed on `/api/`.
      caseSensitive: true,
      // `/api/runtimes/` is `/api/runtimes` (as before, under Express).
      ignoreTrailingSlash: true,
      // A path id is checked by the identifier guard (400 invalid_identifier, ≤ 120 characters); the
      // router's own limit (100) would answer a longer one first, with 414. Node refuses a request line
      // past its 16 KiB header limit (431) before this could.
      maxParamLength: 16 * 1024,
    },
    // A URL the router cannot decode (`/api/runtimes/%zz`) fails before any hook runs: it still goes
    // through the pipeline (request id, access line, host check, key …), then is a 400 in our shape.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => answerFrameworkError(error, request, reply),
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger,
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(logger);
  configureApp(app, config, logger);
  return app;
}

/**
 * The request pipeline, in the order SPEC §11 and §6 decide errors: request
 * id and access log; security headers; host check (403); CORS and
 * preflights; authentication (401), rate limit (429) and scope (403) —
 * before any body is read; then, on /api only, unknown method on a known
 * path (405) and the body (413/415/400); then Nest: path ids (400), query
 * and body validation (400), and the registry's 404/501/404 order.
 *
 * The stages run in one Fastify `onRequest` hook, on Node's request and
 * response, before routing: one function call per request rather than a
 * router layer (or a middie dispatch) per stage.
 */
export function configureApp(app: NestFastifyApplication, config: AppConfig, logger: LoggerService): void {
  app.setGlobalPrefix('api');
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  hardenHttpServer(fastify.server, config.http);
  const apiOnly = (stages: Middleware[]): Middleware => {
    const chain = middlewareChain(stages);
    return (req, res, next) => (isApiPath(req.path) ? chain(req, res, next) : next());
  };
  // The 405 table is read off the OpenAPI document, made below (after this hook: the explorer's routes must come after it).
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
    apiOnly([(req, res, next) => methodNotAllowed(req, res, next), routedOnly(jsonBodyMiddleware())]),
  ]);
  PIPELINES.set(fastify, pipeline);
  // onRequest runs once the router has matched (or not): the stages see the route it chose.
  fastify.addHook('onRequest', (request, reply, done) => {
    const req = request.raw as PipelineRequest;
    prepare(req, request.routeOptions.url);
    let settled = false;
    pipeline(req, reply.raw, (err) => {
      settled = true;
      done(err as Error | undefined);
    });
    // A stage answered by itself (a CORS preflight): the router must not answer as well.
    if (!settled && reply.raw.writableEnded) reply.hijack();
  });
  // The body was read and checked by jsonBodyMiddleware, before the router: Fastify's parsers must not read it again.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request, _payload, done) => done(null, (request.raw as PipelineRequest).body));
  fastify.addHook('preValidation', (request, _reply, done) => {
    const body = (request.raw as PipelineRequest).body;
    if (body !== undefined) request.body = body;
    done();
  });
  const document = setupOpenApi(app);
  methodNotAllowed = methodNotAllowedMiddleware(document.paths as Record<string, Record<string, unknown>>);
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter());
}

/** Each app's request pipeline, for the errors its router raises before the hook runs. */
const PIPELINES = new WeakMap<FastifyInstance, Middleware>();
const FRAMEWORK_ERROR_FILTER = new AllExceptionsFilter();

function answerFrameworkError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  const pipeline = PIPELINES.get(request.server);
  const req = request.raw as PipelineRequest;
  prepare(req, undefined);
  if (!pipeline) return FRAMEWORK_ERROR_FILTER.answer(reply, error);
  pipeline(req, reply.raw, (err) => FRAMEWORK_ERROR_FILTER.answer(reply, err ?? error));
}

/** Only POST, PUT and PATCH bodies are read (json-body.middleware.ts). */
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** What the stages decide on: the router's path (null for a target it cannot route) and the route it matched. */
function prepare(req: PipelineRequest, route: string | undefined): void {
  req.path = routedPathOf(req.url ?? '') ?? UNROUTABLE;
  req.route = route;
  // A DELETE's or an OPTIONS' body is never read, so its Content-Type means nothing: Fastify would still
  // check it, and refuse one it cannot parse with a 415 (Express never looked).
  if (!METHODS_WITH_BODY.has(req.method ?? '')) delete req.headers['content-type'];
}

/** A stage for requests the router matched to a route: no body is read for one that will be a 404. */
function routedOnly(stage: Middleware): Middleware {
  return (req, res, next) => (req.route === undefined ? next() : stage(req, res, next));
}

/** The path of a target the router cannot route (absolute-form, undecodable): matches no check, refused after the host check. */
const UNROUTABLE = '';

function refuseUnroutableTargets(): Middleware {
  return (req, _res, next) => {
    if (req.path !== UNROUTABLE) return next();
    next(new ApiError(400, 'validation_failed', 'The request target must be a path (origin-form) with valid percent-encoding'));
  };
}
