/** A contiguous range [start, end) of the flat parameter vector. */
export interface ParamRange {
  readonly start: number;
  readonly end: number;
}
