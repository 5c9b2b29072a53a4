/**
 * Text for a terminal: control characters (C0 but tab and newline, DEL, C1) and the bidirectional overrides shown as
 * escapes, so that text a run did not write itself — a peer's error, a model's sample — can neither move the cursor,
 * recolour the terminal nor reorder what it shows.
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
