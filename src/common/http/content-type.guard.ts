import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors/api-error';

const CONSUMES = 'autokestra:consumes';
const JSON_ONLY = ['application/json'];

/** Media types a route accepts for its body; routes without it accept JSON only. */
export const Consumes = (...mediaTypes: string[]) => SetMetadata(CONSUMES, mediaTypes);

/**
 * Fastify parses JSON, YAML (registered in the server) and text bodies; this guard makes each
 * route accept only its own media types, answering 415 instead of a confusing validation error.
 */
@Injectable()
export class ContentTypeGuard implements CanActivate {
  private readonly accepted = new WeakMap<object, readonly string[]>();

  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (request.body === undefined || request.body === null) return true;
    const handler = context.getHandler();
    let accepted = this.accepted.get(handler);
    if (!accepted) {
      accepted = this.reflector.get<string[]>(CONSUMES, handler) ?? JSON_ONLY;
      this.accepted.set(handler, accepted);
    }
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!accepted.includes(mediaType)) {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `Content-Type '${mediaType || '(none)'}' is not accepted here; use ${accepted.join(' or ')}`);
    }
    return true;
  }
}
