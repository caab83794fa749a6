/**
 * Text for a thrown value, whatever it is: an `Error` (its message, or its stack when asked for:
 * `name: message` if it has none), a string, an object's string `message`, or anything else a
 * capability may throw (`null`, a null-prototype object, an object whose `toString` throws). Never
 * throws itself: it runs in the paths that report a failure, where a second error would lose the
 * first.
 */
export function describeThrown(value: unknown, { stack = false } = {}): string {
  try {
    if (value instanceof Error) {
      if (!stack) return String(value.message);
      const trace = value.stack;
      return typeof trace === 'string' && trace !== '' ? trace : `${value.name}: ${value.message}`;
    }
    if (typeof value === 'string') return value;
    const message = (value as { message?: unknown } | null | undefined)?.message;
    if (typeof message === 'string') return message;
    return String(value);
  } catch {
    try {
      return JSON.stringify(value) ?? Object.prototype.toString.call(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}
