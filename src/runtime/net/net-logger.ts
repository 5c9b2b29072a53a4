/** How the network components report what they drop and why. */
export type LogLevel = 'debug' | 'info' | 'warn';
/** Where the transport reports what it drops and why. */
export type NetLogger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Default logger: warnings as one line on stderr. */
export const stderrLogger: NetLogger = (level, message) => {
  if (level === 'warn') process.stderr.write(`gossamer net: ${message}\n`);
};
