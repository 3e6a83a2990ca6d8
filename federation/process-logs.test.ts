import type { V1Pod } from '@kubernetes/client-node';
import { podLayout } from './process-plan.ts';
import { CriLineEncoder, criLogPath, criRecord, podLogsObject } from './process-logs.ts';
import type { LogStream } from './process-logs.ts';

const t0 = new Date('2026-11-23T10:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

interface Parsed {
  readonly time: string;
  readonly stream: string;
  readonly tag: string;
  readonly content: string;
}

/**
 * Splits a CRI file into records the way k8s.io/cri-client/pkg/logs parseCRILog does: bytes up to
 * each '\n', three space-separated fields, then the content (bytes: a piece may end inside a character).
 */
function records(file: Buffer): Array<{ time: string; stream: string; tag: string; content: Buffer }> {
  expect(file.length === 0 || file.at(-1) === 0x0a).toBe(true);
  const out = [];
  for (let start = 0; start < file.length;) {
    const end = file.indexOf(0x0a, start);
    const line = file.subarray(start, end);
    const [time = '', stream = '', tag = ''] = line.toString('latin1').split(' ', 3);
    out.push({ time, stream, tag, content: line.subarray(time.length + stream.length + tag.length + 3) });
    start = end + 1;
  }
  return out;
}

const parse = (file: Buffer): Parsed[] => records(file).map((r) => ({ ...r, content: r.content.toString('utf8') }));

/** What the kubelet's reader writes out for a file: F records give content + '\n', P records content alone. */
const served = (file: Buffer, only?: LogStream) =>
  Buffer.concat(
    records(file)
      .filter((r) => !only || r.stream === only)
      .map((r) => (r.tag === 'F' ? Buffer.concat([r.content, Buffer.from('\n')]) : r.content)),
  ).toString('utf8');

/** Feeds chunks (with their arrival times) to one encoder, then ends the stream. */
function encode(stream: LogStream, chunks: ReadonlyArray<readonly [string, number]>, maxBytes?: number, endAt = 9_000): Buffer {
  const encoder = new CriLineEncoder(stream, maxBytes);
  return Buffer.concat([...chunks.map(([text, ms]) => encoder.write(Buffer.from(text), at(ms))), encoder.end(at(endAt))]);
}

describe('criRecord', () => {
  it('writes time (RFC 3339, UTC), stream, tag and content on one line', () => {
    expect(criRecord(t0, 'stdout', 'F', Buffer.from('hello world')).toString()).toBe('2026-11-23T10:00:00.000Z stdout F hello world\n');
    expect(criRecord(at(1.5), 'stderr', 'P', Buffer.from('')).toString()).toBe('2026-11-23T10:00:00.001Z stderr P \n');
  });
});

describe('CriLineEncoder', () => {
  const cases: Array<[string, LogStream, ReadonlyArray<readonly [string, number]>, Parsed[]]> = [
    [
      'each newline-ended line is one F record stamped when it arrived',
      'stdout',
      [
        ['one\ntwo\n', 0],
        ['three\n', 250],
      ],
      [
        { time: '2026-11-23T10:00:00.000Z', stream: 'stdout', tag: 'F', content: 'one' },
        { time: '2026-11-23T10:00:00.000Z', stream: 'stdout', tag: 'F', content: 'two' },
        { time: '2026-11-23T10:00:00.250Z', stream: 'stdout', tag: 'F', content: 'three' },
      ],
    ],
    [
      'a line split across chunks is one record, stamped when its newline came',
      'stderr',
      [
        ['warn', 0],
        ['ing: lo', 100],
        ['w\nnext', 200],
        ['\n', 300],
      ],
      [
        { time: '2026-11-23T10:00:00.200Z', stream: 'stderr', tag: 'F', content: 'warning: low' },
        { time: '2026-11-23T10:00:00.300Z', stream: 'stderr', tag: 'F', content: 'next' },
      ],
    ],
    [
      'an empty line is an F record with no content; a carriage return stays content',
      'stdout',
      [['\n50%\r100%\r\n', 0]],
      [
        { time: '2026-11-23T10:00:00.000Z', stream: 'stdout', tag: 'F', content: '' },
        { time: '2026-11-23T10:00:00.000Z', stream: 'stdout', tag: 'F', content: '50%\r100%\r' },
      ],
    ],
    [
      'what is left without a newline when the stream ends is a P record, stamped at the end',
      'stdout',
      [['done\nno newline', 0]],
      [
        { time: '2026-11-23T10:00:00.000Z', stream: 'stdout', tag: 'F', content: 'done' },
        { time: '2026-11-23T10:00:09.000Z', stream: 'stdout', tag: 'P', content: 'no newline' },
      ],
    ],
    ['a stream that wrote nothing has no records', 'stderr', [], []],
  ];
  it.each(cases)('%s', (_name, stream, chunks, expected) => expect(parse(encode(stream, chunks))).toEqual(expected));

  it('cuts a line longer than the maximum into P pieces of the maximum, then the rest as F — however it was chunked', () => {
    const line = 'abcdefghij'; // 10 bytes, maximum 4
    const expected = ['P abcd', 'P efgh', 'F ij'];
    const whole = parse(encode('stdout', [[`${line}\n`, 0]], 4));
    expect(whole.map((r) => `${r.tag} ${r.content}`)).toEqual(expected);
    const byteByByte = parse(
      encode(
        'stdout',
        [...`${line}\n`].map((ch, i) => [ch, i] as const),
        4,
      ),
    );
    expect(byteByByte.map((r) => `${r.tag} ${r.content}`)).toEqual(expected);
    // A line of exactly the maximum is one F record; so is the remainder when it is exactly the maximum.
    expect(parse(encode('stdout', [['abcd\nabcdefgh\n', 0]], 4)).map((r) => `${r.tag} ${r.content}`)).toEqual(['F abcd', 'P abcd', 'F efgh']);
  });

  it('gives back, through the reader, exactly the bytes written, for any chunking', () => {
    const text = 'epoch 1 loss=0.5\n\nprogress 10%\rprogress 20%\r\nüñí©ødé line\nlast words';
    for (const size of [1, 2, 3, 7, 64]) {
      const chunks = Array.from({ length: Math.ceil(text.length / size) }, (_, i) => [text.slice(i * size, (i + 1) * size), i] as const);
      expect(served(encode('stdout', chunks, 5))).toBe(text);
    }
  });

  it('keeps its unfinished line apart from a pooled chunk that is reused after write()', () => {
    const encoder = new CriLineEncoder('stdout');
    const pooled = Buffer.from('abc');
    encoder.write(pooled, t0);
    pooled.write('XYZ');
    expect(encoder.write(Buffer.from('\n'), t0).toString()).toBe('2026-11-23T10:00:00.000Z stdout F abc\n');
  });

  it('two streams into one file: stdout and stderr records interleave in arrival order and can be told apart', () => {
    const out = new CriLineEncoder('stdout');
    const err = new CriLineEncoder('stderr');
    const file = Buffer.concat([
      out.write(Buffer.from('out 1\nout 2 part'), at(0)),
      err.write(Buffer.from('err 1\n'), at(10)),
      out.write(Buffer.from('ial\n'), at(20)),
      err.end(at(30)),
      out.end(at(30)),
    ]);
    expect(served(file)).toBe('out 1\nerr 1\nout 2 partial\n');
    expect(served(file, 'stdout')).toBe('out 1\nout 2 partial\n');
    expect(served(file, 'stderr')).toBe('err 1\n');
  });
});

describe('podLogsObject', () => {
  const pod: V1Pod = {
    metadata: { name: 'trainer-a1-r0', namespace: 'lent', uid: '0123456789abcdef' },
    spec: { initContainers: [{ name: 'agent', restartPolicy: 'Always' }], containers: [{ name: 'main' }] },
  };
  const layout = podLayout('/state/exec', 'provider-b', pod);

  it('names the pod, is owned by it, and maps every container (sidecars too) to its own CRI file beside the plain log', () => {
    expect(criLogPath(layout, 'main')).toBe('/state/exec/provider-b/lent/trainer-a1-r0-01234567/containers/main/cri.log');
    expect(podLogsObject(pod, layout)).toEqual({
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'Logs',
      metadata: {
        name: 'trainer-a1-r0',
        namespace: 'lent',
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'trainer-a1-r0', uid: '0123456789abcdef' }],
      },
      spec: {
        logs: [
          { containers: ['agent'], logsFile: '/state/exec/provider-b/lent/trainer-a1-r0-01234567/containers/agent/cri.log', follow: true },
          { containers: ['main'], logsFile: '/state/exec/provider-b/lent/trainer-a1-r0-01234567/containers/main/cri.log', follow: true },
        ],
      },
    });
  });
});
