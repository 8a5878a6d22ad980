import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { IDENTIFIER_PATTERN } from '../../config/app-config';
import { ApiError } from '../errors/api-error';

/**
 * Rejects any malformed path id with `400 invalid_identifier` before pipes run.
 *
 * This is a guard rather than a param pipe on purpose: Nest runs the pipes of
 * all parameters concurrently, so a body validation error could otherwise win
 * over an id error. SPEC §6 orders ids first, and guards run before any pipe.
 */
@Injectable()
export class IdentifierParamsGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const params = context.switchToHttp().getRequest<FastifyRequest>().params ?? {};
    for (const [name, value] of Object.entries(params)) {
      if (typeof value !== 'string' || !IDENTIFIER_PATTERN.test(value)) {
        throw ApiError.invalidIdentifier(name, typeof value === 'string' ? value : '');
      }
    }
    return true;
  }
}
