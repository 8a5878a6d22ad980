import type { LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { jsonBodyMiddleware } from './common/http/json-body.middleware';
import { AppLogger } from './common/logging/app-logger';
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
  if (options.logLevels) logger.setLogLevels?.(options.logLevels);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    logger,
    bodyParser: false,
    bufferLogs: true,
    // Open keep-alive and streaming connections must not hold up close().
    forceCloseConnections: true,
  });
  app.useLogger(logger);
  configureApp(app);
  return app;
}

export function configureApp(app: NestExpressApplication): void {
  app.disable('x-powered-by');
  app.setGlobalPrefix('api');
  app.use(jsonBodyMiddleware());
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter());
  setupOpenApi(app);
}
