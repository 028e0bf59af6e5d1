// A TCP proxy between a feed-following service and a Tessera replica that records both
// directions of every connection (plain HTTP on loopback) and can cut the network and
// restore it: what the end-to-end test reads to see which cursor a reconnect sent and
// which events the feed answered it with.
import type net from 'node:net';
import { createParser } from 'eventsource-parser';
import { TcpProxy } from '../../scripts/lib/tcp-proxy.ts';

export interface SniffedConnection {
  request: Buffer;
  response: Buffer;
}

export interface SseRecord {
  event: string;
  id: string;
  data: string;
}

/** The shared TCP proxy (scripts/lib/tcp-proxy.ts), recording each connection's bytes. */
export class SniffingProxy extends TcpProxy {
  readonly connections: SniffedConnection[] = [];
  private refusing = false;

  constructor(targetPort: number) {
    super(new URL(`http://127.0.0.1:${targetPort}`), targetPort, 'sniffing-proxy');
  }

  protected override connected(client: net.Socket, upstream: net.Socket): void {
    // Cut: the connection is accepted and dropped at once, as a dead network path would.
    if (this.refusing) return void client.destroy();
    const record: SniffedConnection = { request: Buffer.alloc(0), response: Buffer.alloc(0) };
    this.connections.push(record);
    client.on('data', (d: Buffer) => void (record.request = Buffer.concat([record.request, d])));
    upstream.on('data', (d: Buffer) => void (record.response = Buffer.concat([record.response, d])));
  }

  /** The origin, without the trailing slash: tests append paths. */
  override get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A network outage: every connection is cut, new ones are dropped at once. */
  cut(): void {
    this.refusing = true;
    this.dropConnections();
  }

  restore(): void {
    this.refusing = false;
  }

  close(): Promise<void> {
    return this.stop();
  }

  /** Connections that asked for the revocation stream. */
  feedConnections(): SniffedConnection[] {
    return this.connections.filter((c) => c.request.toString('latin1').startsWith('GET /revocations/stream'));
  }
}

/** A request header of a sniffed connection (case-insensitive), or undefined. */
export function requestHeader(connection: SniffedConnection, name: string): string | undefined {
  const head = connection.request.toString('latin1').split('\r\n\r\n')[0]!;
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/** The SSE events of a sniffed response (HTTP chunked transfer coding undone). */
export function sseEvents(connection: SniffedConnection): SseRecord[] {
  const raw = connection.response;
  const headerEnd = raw.indexOf('\r\n\r\n');
  if (headerEnd === -1) return [];
  const head = raw.subarray(0, headerEnd).toString('latin1');
  let body = raw.subarray(headerEnd + 4);
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at);
      if (lineEnd === -1) break;
      const size = parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size) || size === 0 || lineEnd + 2 + size > body.length) {
        if (size > 0) parts.push(body.subarray(lineEnd + 2)); // a chunk still arriving when the connection was cut
        break;
      }
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  // eventsource-parser, not the verifier's own sse.ts: an independent reading of the stream.
  const events: SseRecord[] = [];
  const parser = createParser({ onEvent: (e) => void events.push({ event: e.event ?? 'message', id: e.id ?? '', data: e.data }) });
  parser.feed(body.toString('utf8'));
  return events;
}
