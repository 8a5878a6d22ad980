import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpConfig } from '../../config/app-config';

/** One complete HTTP/1.1 response in the one error shape, for answers given outside Express (parser errors, refused connections). */
export function rawErrorResponse(status: number, error: string, message: string, extraHeaders = ''): string {
  const body = JSON.stringify({ statusCode: status, error, message, diagnostics: [] });
  const reason = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large', 503: 'Service Unavailable' }[status] ?? 'Error';
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\nX-Content-Type-Options: nosniff\r\n${extraHeaders}\r\n${body}`
  );
}

/**
 * Bounds on the connection level (SPEC §13), before any request reaches
 * Express:
 * - a client must send its headers within `headersTimeoutMs` and its whole
 *   request within `requestTimeoutMs` (a socket that never sends a byte is
 *   closed too); idle keep-alive connections close after `keepAliveTimeoutMs`;
 * - a connection serves at most `maxRequestsPerSocket` requests, which bounds
 *   what pipelining can queue on one socket;
 * - past `maxConnections` a new connection gets a `503` and is closed at once,
 *   so a flood of idle sockets cannot exhaust file descriptors;
 * - requests the HTTP parser rejects (bad syntax, headers too large) get the
 *   one error shape as JSON, not an empty 400.
 */
export function hardenHttpServer(server: Server, config: HttpConfig): void {
  server.headersTimeout = config.headersTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = config.maxRequestsPerSocket;
  // How often Node checks the two timeouts above (default 30 s): often enough that they hold.
  (server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(1000, config.headersTimeoutMs);

  let open = 0;
  server.prependListener('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open > config.maxConnections) {
      socket.end(rawErrorResponse(503, 'service_unavailable', 'The server holds its maximum of connections; retry later', 'Retry-After: 1\r\n'));
      socket.destroySoon();
    }
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') return socket.destroy();
    const code = err.code ?? '';
    const response =
      code === 'HPE_HEADER_OVERFLOW'
        ? rawErrorResponse(431, 'headers_too_large', 'Request headers are too large')
        : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_TIMEOUT'
          ? rawErrorResponse(408, 'validation_failed', 'The request was not sent in time')
          : rawErrorResponse(400, 'validation_failed', 'The request is not valid HTTP');
    socket.end(response);
  });
}
