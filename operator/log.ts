// Structured JSON logs, one line each, with the ids (job, provider, attempt) as fields.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function jsonLogger(component: string, min: LogLevel = (process.env.FLOTILLA_LOG_LEVEL as LogLevel | undefined) ?? 'info'): Logger {
  return (level, msg, fields = {}) => {
    if (ORDER[level] < ORDER[min]) return;
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields }) + '\n');
  };
}

export function errorMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'body' in err && typeof (err as { body: unknown }).body === 'string') {
    try {
      const body = JSON.parse((err as { body: string }).body) as { message?: string };
      if (body.message) return body.message;
    } catch {
      /* not JSON */
    }
  }
  return err instanceof Error ? err.message : String(err);
}
