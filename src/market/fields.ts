/**
 * Field checks shared by request validation (validate.ts) and snapshot decoding
 * (market-snapshot.ts). Each check returns null or a problem that names the field by its path
 * (`lines[2].qty`), so that a 400 answer can say exactly what is wrong.
 */

/** A field that failed a check; `field` is its path in the input, `message` says why. */
export interface FieldProblem {
  readonly ok: false;
  readonly field: string;
  readonly message: string;
}

export function fieldProblem(field: string, message: string): FieldProblem {
  return { ok: false, field, message };
}

export type JsonRecord = Readonly<Record<string, unknown>>;

/** A JSON object: not null, not an array. */
export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The record's own property `key`; inherited ones (`constructor`, `__proto__`) don't count. */
export function ownField(record: JsonRecord, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Joins a parent path and a key: `fieldPath("lines[2]", "qty")` is `lines[2].qty`. */
export function fieldPath(parent: string, key: string): string {
  return parent === "" ? key : `${parent}.${key}`;
}

export interface TextRule {
  readonly lengthMin: number;
  readonly lengthMax: number;
  /** When set, the whole value must match it; `patternHint` says what it allows. */
  readonly pattern?: RegExp;
  readonly patternHint?: string;
}

/**
 * Checks a string: a length in [lengthMin, lengthMax] (UTF-16 code units), no control
 * characters, no leading or trailing whitespace (so "Fruit" and "Fruit " cannot be two areas),
 * and the rule's pattern if it has one.
 */
export function checkText(value: unknown, field: string, rule: TextRule): FieldProblem | null {
  if (typeof value !== "string") return fieldProblem(field, "must be a string");
  if (value.length < rule.lengthMin || value.length > rule.lengthMax) {
    return fieldProblem(field,
      `must be ${rule.lengthMin} to ${rule.lengthMax} characters long, got ${value.length}`);
  }
  if (hasControlCharacter(value)) {
    return fieldProblem(field, "must not contain control characters");
  }
  if (value.trim() !== value) {
    return fieldProblem(field, "must not start or end with whitespace");
  }
  if (rule.pattern !== undefined && !rule.pattern.test(value)) {
    return fieldProblem(field, `must contain only ${rule.patternHint ?? "allowed characters"}`);
  }
  return null;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Checks a JSON number that is a safe integer in [min, max]. */
export function checkInteger(
  value: unknown,
  field: string,
  min: number,
  max: number,
): FieldProblem | null {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    return fieldProblem(field, "must be an integer");
  }
  if (value < min || value > max) {
    return fieldProblem(field, `must be between ${min} and ${max}, got ${value}`);
  }
  return null;
}

export function checkBoolean(value: unknown, field: string): FieldProblem | null {
  return typeof value === "boolean" ? null : fieldProblem(field, "must be true or false");
}

/**
 * Readers: the field's value when it passes its check, or the problem. Callers test the
 * result's type (`if (typeof sku !== "string") return sku;`), which keeps them free of casts.
 */
export function readText(
  record: JsonRecord,
  key: string,
  parent: string,
  rule: TextRule,
): string | FieldProblem {
  const value = ownField(record, key);
  const field = fieldPath(parent, key);
  if (value === undefined) return fieldProblem(field, "is required");
  return checkText(value, field, rule) ?? (value as string);
}

export function readInteger(
  record: JsonRecord,
  key: string,
  parent: string,
  range: { readonly min: number; readonly max: number },
): number | FieldProblem {
  const value = ownField(record, key);
  const field = fieldPath(parent, key);
  if (value === undefined) return fieldProblem(field, "is required");
  return checkInteger(value, field, range.min, range.max) ?? (value as number);
}
