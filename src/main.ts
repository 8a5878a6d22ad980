import './threadpool';
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ApiKeys } from './auth/api-keys.service';
import { AppLogger, routeConsoleTo } from './common/logging/app-logger';
import { ConfigError, loadAppConfig, secretsOf } from './config/app-config';
import { shutdownGracefully } from './shutdown';

async function bootstrap(logger: AppLogger): Promise<void> {
  let config;
  try {
    config = loadAppConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.fatal(`configuration error: ${err.message}`, 'Bootstrap');
      process.exit(1);
    }
    throw err;
  }
  logger.registerSecrets(secretsOf(config));
  logger.setLogLevels(config.logLevels);
  const app = await createApp(config, { logger });
  await app.listen(config.port, config.host);
  const url = await app.getUrl();
  const log = new Logger('Bootstrap');
  log.log(`Workspace Backend listening on ${url} (API under /api, explorer at /docs)`);
  if (!config.auth.disabled && config.auth.apiKey === null) {
    // No API_KEY: a fresh admin key for this start, shown once. Straight to stdout: the logger would redact it.
    const token = await app.get(ApiKeys).createBootstrapKey();
    process.stdout.write(
      `\nAdmin API key for this start (shown once; set API_KEY to choose your own):\n\n  ${token}\n\n` +
        `Explorer: ${url.replace('[::1]', 'localhost')}/docs (Authorize with the key)\n` +
        `Try:      curl -H 'Authorization: Bearer ${token}' ${url}/api/runtimes\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.log(`${signal}: shutting down (grace ${config.shutdownGraceMs} ms)`);
    shutdownGracefully(app, config.shutdownGraceMs).then(
      () => process.exit(0),
      (err) => {
        log.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

// The JSON logger exists before anything else, so start-up lines and start-up failures are redacted too.
const logger = new AppLogger();
Logger.overrideLogger(logger);
routeConsoleTo(logger);
bootstrap(logger).catch((err: unknown) => {
  logger.fatal(err, 'Bootstrap');
  process.exit(1);
});
