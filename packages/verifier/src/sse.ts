// A Server-Sent Events parser (the WHATWG "event stream" interpretation), small enough to
// keep the verifier free of runtime dependencies. It is fed decoded text as it arrives and
// calls back once per dispatched event; lines may be split anywhere between chunks.

export interface SseEvent {
  /** `event:` field; `message` when the event named none. */
  type: string;
  /** `data:` lines joined with `\n`. */
  data: string;
  /** The last event ID after this event (`id:` of this event, or the latest earlier one). */
  id: string;
}

export interface SseParserOptions {
  onEvent: (event: SseEvent) => void;
  /** A `retry:` field: the server's reconnection delay in milliseconds. */
  onRetry?: (ms: number) => void;
  /** Longest line or event (characters) accepted before `push` throws: a broken server cannot fill memory. */
  maxEventChars?: number;
}

const DEFAULT_MAX_EVENT_CHARS = 64 * 1024 * 1024;

export class SseParser {
  private buffer = '';
  /** Characters of `buffer` already searched for a line end (a long line arrives in many chunks). */
  private scanned = 0;
  private data: string[] = [];
  private dataChars = 0;
  private type = '';
  private lastEventId = '';
  private readonly max: number;

  constructor(private readonly options: SseParserOptions) {
    this.max = options.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS;
  }

  /** Feeds decoded text. Throws if a line or an event grows beyond `maxEventChars`. */
  push(text: string): void {
    this.buffer += text;
    let start = 0;
    for (let i = this.scanned; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      // CR LF is one line end; a CR at the very end may be the first half of one.
      if (c === 13 && i + 1 === this.buffer.length) break;
      this.line(this.buffer.slice(start, i));
      if (c === 13 && this.buffer.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    this.scanned = this.buffer.endsWith('\r') ? this.buffer.length - 1 : this.buffer.length;
    if (this.buffer.length + this.dataChars > this.max) throw new Error(`an event stream line or event exceeds ${this.max} characters`);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.charCodeAt(0) === 58) return; // ':' comment (heartbeats)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.type = value;
        break;
      case 'data':
        this.data.push(value);
        this.dataChars += value.length + 1;
        if (this.dataChars > this.max) throw new Error(`an event stream event exceeds ${this.max} characters`);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.options.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const { data, type } = this;
    this.data = [];
    this.dataChars = 0;
    this.type = '';
    if (data.length === 0) return;
    this.options.onEvent({ type: type || 'message', data: data.join('\n'), id: this.lastEventId });
  }
}
