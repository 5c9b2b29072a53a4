/**
 * Metrics rows as a TensorBoard event file: a TFRecord file (each record: its length as uint64, the masked CRC-32C
 * of the length, the bytes, their masked CRC-32C) of `Event` protocol buffers — first the file version, then one
 * event per row with every numeric field of the row as a scalar (`simple_value`) under its own name, at the row's
 * gradient steps. Encoded by hand: four fields of two messages do not need a protobuf library.
 */
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '../core/crc32c.js';

/** Fields of a row that are coordinates rather than measurements. */
const NOT_SCALARS = new Set(['gradients', 'final']);

export class TensorBoardLog {
  private readonly fd: number;

  /** Writes into `dir`, replacing the event files already there (a resumed run writes its earlier rows again). */
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) if (name.startsWith('events.out.tfevents.')) rmSync(join(dir, name), { force: true });
    const seconds = Date.now() / 1000;
    this.fd = openSync(join(dir, `events.out.tfevents.${Math.floor(seconds)}.${hostname()}.gossamer`), 'w');
    this.record(event(seconds, 0, [{ field: 3, bytes: utf8('brain.Event:2') }]));
  }

  /** A metrics row (report/metrics.ts): its numeric fields at its gradient steps. */
  write(row: { gradients: number; [field: string]: unknown }): void {
    const values = Object.entries(row)
      .filter(([key, v]) => !NOT_SCALARS.has(key) && typeof v === 'number' && Number.isFinite(v))
      .map(([key, v]) => message([{ field: 1, bytes: utf8(key) }, { field: 2, float: v as number }]));
    if (values.length === 0) return;
    const summary = message(values.map((bytes) => ({ field: 1, bytes })));
    this.record(event(Date.now() / 1000, Math.round(row.gradients), [{ field: 5, bytes: summary }]));
  }

  close(): void {
    closeSync(this.fd);
  }

  private record(data: Uint8Array): void {
    const head = Buffer.alloc(12);
    head.writeBigUInt64LE(BigInt(data.length), 0);
    head.writeUInt32LE(masked(crc32c(head.subarray(0, 8))), 8);
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(masked(crc32c(data)), 0);
    writeSync(this.fd, Buffer.concat([head, data, tail]));
  }
}

/** TFRecord's masked CRC: rotated right by 15 bits plus a constant. */
function masked(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

type Field = { field: number; bytes: Uint8Array } | { field: number; float: number };

/** Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; } */
function event(wallTime: number, step: number, fields: Field[]): Uint8Array {
  const time = Buffer.alloc(9);
  time[0] = (1 << 3) | 1;
  time.writeDoubleLE(wallTime, 1);
  return Buffer.concat([time, Buffer.from([(2 << 3) | 0]), varint(step), message(fields)]);
}

/** The fields as protobuf wire bytes: length-delimited (wire type 2) or fixed 32-bit floats (wire type 5). */
function message(fields: Field[]): Uint8Array {
  return Buffer.concat(fields.map((f) => {
    if ('float' in f) {
      const b = Buffer.alloc(5);
      b[0] = (f.field << 3) | 5;
      b.writeFloatLE(f.float, 1);
      return b;
    }
    return Buffer.concat([Buffer.from([(f.field << 3) | 2]), varint(f.bytes.length), f.bytes]);
  }));
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = BigInt(value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Uint8Array.from(out);
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');
