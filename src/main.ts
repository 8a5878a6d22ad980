import './threadpool';
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigError, loadAppConfig } from './config/app-config';
import { shutdownGracefully } from './shutdown';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadAppConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const app = await createApp(config);
  await app.listen(config.port, config.host);
  const url = await app.getUrl();
  const logger = new Logger('Bootstrap');
  logger.log(`Workspace Backend listening on ${url} (API under /api, explorer at /docs)`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down (grace ${config.shutdownGraceMs} ms)`);
    shutdownGracefully(app, config.shutdownGraceMs).then(
      () => process.exit(0),
      (err) => {
        logger.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void bootstrap().catch((err) => {
  // Start-up failures (an unreachable database after its retries, say): one line, then exit non-zero.
  new Logger('Bootstrap').error(`start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
