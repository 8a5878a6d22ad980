import type { LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Server } from 'node:http';
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
import { middlewareChain } from './common/http/middleware-chain';
import { securityHeaders } from './common/http/security-headers';
import { AllowListExpressAdapter } from './common/serialization/allow-list-express.adapter';
import { createAccessLogMiddleware } from './common/logging/access-log.middleware';
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
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<NestExpressApplication> {
  // Built first and handed to Nest: every line, from the first start-up one on, is redacted JSON.
  const logger = options.logger ?? new AppLogger();
  if (logger instanceof AppLogger) logger.registerSecrets(secretsOf(config));
  // Keys created before a restart are known only by their hash: redact them by shape.
  registerSecretPattern(GENERATED_KEY_SHAPE);
  // LOG_LEVEL applies to the app's own logger; a logger passed in (tests) keeps its levels unless told.
  const levels = options.logLevels ?? (options.logger ? undefined : config.logLevels);
  if (levels) logger.setLogLevels?.(levels);
  // One spelling per route. Express matches paths case-insensitively by default, and then
  // `/API/runtimes` reached the controllers past every check keyed on `/api/` (auth, scopes,
  // security headers). Set before Nest's adapter creates the router, which reads it once.
  const http = express();
  http.set('case sensitive routing', true);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), new AllowListExpressAdapter(http), {
    logger,
    bodyParser: false,
    bufferLogs: true,
    // close() after the graceful drain (shutdown.ts) must not wait on keep-alive or streaming connections.
    forceCloseConnections: true,
  });
  app.useLogger(logger);
  configureApp(app, config, logger);
  return app;
}

/**
 * The request pipeline, in the order SPEC §11 and §6 decide errors: request
 * id and access log; security headers; host check (403); CORS and
 * preflights; authentication (401), rate limit (429) and scope (403) —
 * before any body is read; unknown method on a known path (405); the body
 * (413/415/400); then Nest: path ids (400), query and body validation (400),
 * and the registry's 404/501/404 order.
 */
export function configureApp(app: NestExpressApplication, config: AppConfig, logger: LoggerService): void {
  app.disable('x-powered-by');
  app.setGlobalPrefix('api');
  hardenHttpServer(app.getHttpServer() as Server, config.http);
  // Each chain is one router layer (middleware-chain.ts); the order is the order of SPEC §11 and §6 above.
  app.use(
    middlewareChain([
      requestIdMiddleware(),
      ...(logger instanceof AppLogger ? [createAccessLogMiddleware({ logger })] : []),
      securityHeaders(),
      hostCheckMiddleware(config.http.allowedHosts),
      corsMiddleware(config.http.corsOrigins),
      authMiddleware(app.get(ApiKeys), {
        disabled: config.auth.disabled,
        rateLimit: config.auth.rateLimitPerMinute === null ? null : { limiter: new RateLimiter(config.auth.rateLimitPerMinute), perMinute: config.auth.rateLimitPerMinute },
      }),
    ]),
  );
  const document = setupOpenApi(app);
  app.use(
    middlewareChain([
      // After the explorer's routes and assets: any other path outside /api is a JSON 404 (Express would answer HTML).
      notFoundOutsideApi(),
      methodNotAllowedMiddleware(document.paths as Record<string, Record<string, unknown>>),
      jsonBodyMiddleware(),
    ]),
  );
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter());
}

/**
 * `/`, `/favicon.ico`, `//`, `OPTIONS *`, an unknown asset under /docs …:
 * Nest's not-found handler only covers the global prefix, so without this
 * Express's final handler would answer them with an HTML page.
 */
function notFoundOutsideApi(): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (isApiPath(req.path)) return next();
    next(new ApiError(404, 'not_found', 'No route matches this method and path'));
  };
}
