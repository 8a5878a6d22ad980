import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exchange } from './test-app';

type Json = Record<string, any>;

/**
 * Deep copy of a schema in which every object schema is closed
 * (`additionalProperties: false`), so an extra field — the typical leak —
 * fails validation even though the document itself is open.
 */
export function closeSchemas<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(closeSchemas) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema as Json)) out[k] = k === 'example' || k === 'examples' ? v : closeSchemas(v);
  if ((out.type === 'object' || out.properties) && out.additionalProperties === undefined) out.additionalProperties = false;
  return out as T;
}

interface Route {
  regex: RegExp;
  template: string;
  operations: Json;
}

/**
 * Validates every API response the e2e suites receive against the committed
 * OpenAPI document: the route and status must be documented, and the body
 * must match that response's schema with every object closed.
 */
export class OpenApiContract {
  readonly document: Json;
  private readonly ajv: Ajv;
  private readonly routes: Route[];
  private readonly compiled = new Map<string, ValidateFunction>();
  checked = 0;

  constructor(document: Json) {
    this.document = document;
    this.ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'openapi.json', components: withoutDiscriminators(closeSchemas(document.components)) });
    this.routes = Object.entries(document.paths as Json).map(([template, operations]) => ({
      template,
      operations,
      regex: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  static fromCommittedFile(): OpenApiContract {
    return new OpenApiContract(JSON.parse(readFileSync(join(__dirname, '..', '..', 'openapi.json'), 'utf8')));
  }

  /** The schema ref (e.g. `#/components/schemas/X`) for one route/method/status, or undefined. */
  responseSchema(method: string, path: string, status: number): Json | undefined {
    const route = this.routes.find((r) => r.regex.test(path));
    const op = route?.operations[method.toLowerCase()];
    return op?.responses?.[String(status)]?.content?.['application/json']?.schema;
  }

  check = (exchange: Exchange): void => {
    // Routes ignore a trailing slash: `/api/runtimes/` is `/api/runtimes`.
    const path = exchange.path.split('?')[0].replace(/(.)\/$/, '$1');
    if (!path.startsWith('/api/')) return; // the explorer and the document itself are not API routes
    if (exchange.method === 'OPTIONS' && exchange.status === 204) return; // a CORS preflight grant, not an operation
    if (exchange.method === 'HEAD') {
      // HEAD is GET without a body: its status must be one GET documents.
      const route = this.routes.find((r) => r.regex.test(path));
      if (route?.operations.get && !route.operations.get.responses?.[String(exchange.status)]) throw new Error(`HEAD ${path}: ${exchange.status} is not documented for GET`);
      return;
    }
    const route = this.routes.find((r) => r.regex.test(path));
    if (route && String(exchange.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      this.checkEventStream(exchange, route);
      return;
    }
    let schema: Json | undefined;
    if (!route || !route.operations[exchange.method.toLowerCase()]) {
      // No such route: the generic error body, as a 404; a known path with another method: 405.
      const allowed = route ? [405, 401, 403, 429] : [404, 401, 403];
      if (!allowed.includes(exchange.status)) throw new Error(`${exchange.method} ${path}: ${exchange.status} on an undocumented route`);
      if (exchange.status === 405) this.checkHeaders(exchange, this.document.components.responses.MethodNotAllowed, `${exchange.method} ${path}`);
      schema = { $ref: '#/components/schemas/ErrorResponseDto' };
    } else {
      const documented = route.operations[exchange.method.toLowerCase()]?.responses?.[String(exchange.status)];
      if (documented) this.checkHeaders(exchange, documented, `${exchange.method} ${route.template}`);
      if (documented && !documented.content) {
        // A response documented without a body (204, 304): there must be none.
        if (exchange.text !== '') throw new Error(`${exchange.method} ${route.template}: ${exchange.status} is documented without a body but has one`);
        this.checked++;
        return;
      }
      schema = this.responseSchema(exchange.method, path, exchange.status);
      if (!schema) throw new Error(`${exchange.method} ${route.template}: status ${exchange.status} is not documented`);
    }
    const contentType = String(exchange.headers['content-type'] ?? '');
    if (!contentType.startsWith('application/json')) throw new Error(`${exchange.method} ${path}: content-type ${contentType}`);
    const validate = this.validatorFor(schema);
    if (!validate(exchange.body)) {
      throw new Error(
        `${exchange.method} ${path} (${exchange.status}) does not match the OpenAPI schema: ${this.ajv.errorsText(validate.errors, { separator: '; ' })}\n${exchange.text.slice(0, 500)}`,
      );
    }
    this.checked++;
  };

  /** Every header the response documents as required is there, and matches its schema. */
  private checkHeaders(exchange: Exchange, response: Json, where: string): void {
    for (const [name, declared] of Object.entries((response.headers ?? {}) as Json)) {
      const header = declared.$ref ? this.document.components.headers[String(declared.$ref).split('/').pop()!] : declared;
      const value = exchange.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required) throw new Error(`${where} (${exchange.status}): the documented header ${name} is missing`);
        continue;
      }
      const validate = this.validatorFor(header.schema);
      if (!validate(value)) throw new Error(`${where} (${exchange.status}): header ${name}: ${JSON.stringify(value)} does not match its schema: ${this.ajv.errorsText(validate.errors)}`);
    }
  }

  /** Every event's `data:` must match the documented event schemas (closed), and every `event:` its `kind`. */
  private checkEventStream(exchange: Exchange, route: Route): void {
    const schema = route.operations.get?.responses?.['200']?.content?.['text/event-stream']?.schema;
    if (exchange.status !== 200 || !schema) throw new Error(`${exchange.method} ${route.template}: undocumented event stream (${exchange.status})`);
    this.checkHeaders(exchange, route.operations.get.responses['200'], `${exchange.method} ${route.template}`);
    const validate = this.validatorFor(schema);
    const complete = exchange.text.slice(0, exchange.text.lastIndexOf('\n\n') + 2);
    for (const block of complete.split('\n\n')) {
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
      if (data.length === 0) continue;
      const event = block.split('\n').find((l) => l.startsWith('event: '))?.slice(7);
      const parsed = JSON.parse(data.join('\n')) as Json;
      if (!validate(parsed)) throw new Error(`${route.template}: event does not match the OpenAPI schema: ${this.ajv.errorsText(validate.errors)}\n${block.slice(0, 300)}`);
      if (parsed.kind !== event) throw new Error(`${route.template}: event: ${event} but data.kind ${parsed.kind}`);
    }
    this.checked++;
  }

  /** Validates a request body against the documented request schema (for the hostile-input suite). */
  requestBodyValidator(method: string, template: string): ValidateFunction {
    const schema = this.document.paths[template][method].requestBody.content['application/json'].schema;
    return this.validatorFor(schema);
  }

  /** A cached validator for a schema of the document (closed objects, refs into the committed document). */
  validatorFor(schema: Json): ValidateFunction {
    const key = JSON.stringify(schema);
    let fn = this.compiled.get(key);
    if (!fn) {
      fn = this.ajv.compile(withoutDiscriminators(closeSchemas(rebase(schema))));
      this.compiled.set(key, fn);
    }
    return fn;
  }
}

/** Points local `#/components/...` refs at the registered document. */
function rebase(schema: Json): Json {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"openapi.json#/components/'));
}

/** Ajv cannot use OpenAPI's discriminator `mapping`; `oneOf` alone decides (the kinds are disjoint enums). */
function withoutDiscriminators<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(withoutDiscriminators) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema as Json)) if (k !== 'discriminator') out[k] = withoutDiscriminators(v);
  return out as T;
}
