import { Type } from 'class-transformer';
import { getMetadataStorage, IsIn, IsInt, IsOptional, IsString, ValidateNested } from 'class-validator';
import { CreateWorkerDto } from '../../workers/dto/create-worker.dto';
import { SendInputDto } from '../../workers/dto/send-input.dto';
import { TranscriptQueryDto } from '../../workers/dto/transcript.dto';
import { ListQueryDto } from '../dto/list-query.dto';
import { DiscriminatedBy } from '../dto/discriminated.decorator';
import { findUnknownFields, knownShapeOf } from './known-keys';

/** Every name `Object.prototype` has, so a plain-object lookup would find it. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** An object with `name` as an own key, whatever the name (JSON.parse, as a body would be). */
function withKey(base: Record<string, unknown>, name: string): Record<string, unknown> {
  return JSON.parse(JSON.stringify(base).replace(/^\{/, `{${JSON.stringify(name)}:1${Object.keys(base).length ? ',' : ''}`));
}

const COMPANION = { intent: { kind: 'workspace_companion' }, acceptance: { kind: 'run_accepted', expected_segments: 0 } };
const TICKET = { intent: { kind: 'ticket_role', ticket_id: 'T1', role: 'coder' }, acceptance: { kind: 'socket_ready' }, requested_worker_name: 'n' };

describe('knownShapeOf', () => {
  it('reads the fields of a DTO from class-validator metadata', () => {
    expect([...knownShapeOf(CreateWorkerDto)!.fields].sort()).toEqual(['acceptance', 'intent', 'requested_worker_name']);
    expect([...knownShapeOf(SendInputDto)!.fields].sort()).toEqual(['content', 'kind', 'on_busy']);
    expect([...knownShapeOf(ListQueryDto)!.fields].sort()).toEqual(['cursor', 'limit']);
    expect([...knownShapeOf(TranscriptQueryDto)!.fields].sort()).toEqual(['limit', 'start']);
    expect([...knownShapeOf(CreateWorkerDto)!.nested.keys()].sort()).toEqual(['acceptance', 'intent']);
  });

  it('is undefined for a class without validation rules (not a DTO)', () => {
    class Plain {
      a = 1;
    }
    expect(knownShapeOf(Plain)).toBeUndefined();
    expect(knownShapeOf(Object)).toBeUndefined();
  });

  it('knows no prototype member, whatever the DTO', () => {
    for (const cls of [CreateWorkerDto, SendInputDto, ListQueryDto, TranscriptQueryDto]) {
      for (const name of PROTOTYPE_NAMES) expect([cls.name, name, knownShapeOf(cls)!.fields.has(name)]).toEqual([cls.name, name, false]);
    }
  });

  it('includes inherited fields', () => {
    class Base {
      @IsString() a: string;
    }
    class Child extends Base {
      @IsString() b: string;
    }
    expect([...knownShapeOf(Child)!.fields].sort()).toEqual(['a', 'b']);
  });

  it('is computed once per class', () => {
    class Once {
      @IsString() a: string;
    }
    const storage = getMetadataStorage();
    const spy = jest.spyOn(storage, 'getTargetValidationMetadatas');
    try {
      const first = knownShapeOf(Once);
      expect(knownShapeOf(Once)).toBe(first);
      findUnknownFields({ a: 'x', b: 1 }, Once, 32);
      expect(spy.mock.calls.filter(([cls]) => cls === Once)).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('findUnknownFields', () => {
  it('accepts every field the DTOs know, in every discriminated subtype', () => {
    expect(findUnknownFields(COMPANION, CreateWorkerDto, 32)).toEqual([]);
    expect(findUnknownFields(TICKET, CreateWorkerDto, 32)).toEqual([]);
    expect(findUnknownFields({ intent: { kind: 'workspace_orchestrator' }, acceptance: { kind: 'run_accepted' } }, CreateWorkerDto, 32)).toEqual([]);
    expect(findUnknownFields({ kind: 'user', content: 'x' }, SendInputDto, 32)).toEqual([]);
    expect(findUnknownFields({ limit: '5' }, ListQueryDto, 32)).toEqual([]);
  });

  it.each(PROTOTYPE_NAMES)('%s is unknown at the top level and in every nested DTO', (name) => {
    expect(findUnknownFields(withKey(COMPANION, name), CreateWorkerDto, 32)).toEqual([name]);
    expect(findUnknownFields({ ...COMPANION, intent: withKey(COMPANION.intent, name) }, CreateWorkerDto, 32)).toEqual([`intent.${name}`]);
    expect(findUnknownFields({ ...TICKET, intent: withKey(TICKET.intent, name) }, CreateWorkerDto, 32)).toEqual([`intent.${name}`]);
    expect(findUnknownFields({ ...COMPANION, acceptance: withKey(COMPANION.acceptance, name) }, CreateWorkerDto, 32)).toEqual([`acceptance.${name}`]);
    expect(findUnknownFields(withKey({ content: 'x' }, name), SendInputDto, 32)).toEqual([name]);
    // A query object from Node's parser has no prototype at all.
    expect(findUnknownFields(Object.assign(Object.create(null), { [name]: '1' }), ListQueryDto, 32)).toEqual([name]);
  });

  it('follows the discriminator: a field of one subtype is unknown in another', () => {
    // ticket_id and role belong to ticket_role only; expected_segments to run_accepted only.
    expect(findUnknownFields({ ...COMPANION, intent: { kind: 'workspace_companion', ticket_id: 'T1', role: 'coder' } }, CreateWorkerDto, 32).sort()).toEqual([
      'intent.role',
      'intent.ticket_id',
    ]);
    expect(findUnknownFields({ ...COMPANION, acceptance: { kind: 'socket_ready', expected_segments: 1 } }, CreateWorkerDto, 32)).toEqual(['acceptance.expected_segments']);
    // An unknown kind selects the base class, which knows only `kind`.
    expect(findUnknownFields({ ...COMPANION, intent: { kind: 'nope', ticket_id: 'T1' } }, CreateWorkerDto, 32)).toEqual(['intent.ticket_id']);
    expect(findUnknownFields({ ...COMPANION, intent: { kind: 'toString', x: 1 } }, CreateWorkerDto, 32)).toEqual(['intent.x']);
  });

  it('leaves values that are not objects to validation', () => {
    for (const intent of [null, 'x', 1, [], [{ toString: 1 }], true]) {
      expect(findUnknownFields({ ...COMPANION, intent }, CreateWorkerDto, 32)).toEqual([]);
    }
    expect(findUnknownFields('x', CreateWorkerDto, 32)).toEqual([]);
    expect(findUnknownFields(null, CreateWorkerDto, 32)).toEqual([]);
  });

  it('does not read a nested value from the prototype chain', () => {
    const body = Object.create({ intent: { toString: 1 } }) as Record<string, unknown>;
    body.acceptance = { kind: 'run_accepted' };
    expect(findUnknownFields(body, CreateWorkerDto, 32)).toEqual([]);
  });

  it('names a hostile key by a short safe excerpt, and stops at the limit', () => {
    const key = `\u001b[31m<script>/etc/passwd\\${'x'.repeat(10_000)}`;
    const [path] = findUnknownFields({ content: 'x', [key]: 1 }, SendInputDto, 32);
    expect(path).toBe(`??31m?script??etc?passwd?${'x'.repeat(39)}…`);
    expect(path.length).toBeLessThanOrEqual(65);
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i]));
    expect(findUnknownFields(many, SendInputDto, 32)).toHaveLength(32);
    expect(findUnknownFields({ ...many, intent: withKey({ kind: 'workspace_companion' }, 'toString') }, CreateWorkerDto, 5)).toHaveLength(5);
  });

  describe('with class-transformer @Type', () => {
    class Leaf {
      @IsString() name: string;
    }
    class OtherLeaf {
      @IsInt() size: number;
    }
    class Holder {
      @ValidateNested() @Type(() => Leaf) one: Leaf;
      @ValidateNested({ each: true }) @Type(() => Leaf) many: Leaf[];
      @IsOptional() @IsIn(['x']) flag?: string;
      @ValidateNested()
      @Type(() => Object, { discriminator: { property: 'type', subTypes: [{ name: 'leaf', value: Leaf }, { name: 'other', value: OtherLeaf }] } })
      pick: Leaf | OtherLeaf;
    }

    it('checks a nested DTO and each item of a nested array', () => {
      expect(findUnknownFields({ one: { name: 'a' }, many: [{ name: 'b' }, { name: 'c' }] }, Holder, 32)).toEqual([]);
      expect(findUnknownFields({ one: { name: 'a', valueOf: 1 }, many: [{ name: 'b' }, { name: 'c', __proto__x: 1 }] }, Holder, 32).sort()).toEqual([
        'many.1.__proto__x',
        'one.valueOf',
      ]);
    });

    it('follows a @Type discriminator (whose property class-transformer consumes, so it is allowed)', () => {
      expect(findUnknownFields({ pick: { type: 'leaf', name: 'a', size: 1 } }, Holder, 32)).toEqual(['pick.size']);
      expect(findUnknownFields({ pick: { type: 'other', name: 'a', size: 1 } }, Holder, 32)).toEqual(['pick.name']);
      expect(findUnknownFields({ one: { type: 'leaf', name: 'a' } }, Holder, 32)).toEqual(['one.type']);
    });
  });

  describe('with a DiscriminatedBy field of its own', () => {
    class A {
      @IsIn(['a']) kind: 'a';
      @IsString() only_a: string;
    }
    class B {
      @IsIn(['b']) kind: 'b';
    }
    class Fallback {
      @IsIn(['a', 'b']) kind: string;
    }
    class Outer {
      @ValidateNested() @DiscriminatedBy('kind', Fallback, { a: A, b: B }) inner: A | B;
    }

    it('allows exactly the fields of the subtype the discriminator names', () => {
      expect(findUnknownFields({ inner: { kind: 'a', only_a: 'x' } }, Outer, 32)).toEqual([]);
      expect(findUnknownFields({ inner: { kind: 'b', only_a: 'x' } }, Outer, 32)).toEqual(['inner.only_a']);
      expect(findUnknownFields({ inner: { kind: 'hasOwnProperty', only_a: 'x' } }, Outer, 32)).toEqual(['inner.only_a']);
      expect(findUnknownFields({ inner: { kind: 'a', isPrototypeOf: 1 } }, Outer, 32)).toEqual(['inner.isPrototypeOf']);
    });
  });
});
