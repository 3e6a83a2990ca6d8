import { assertLeading, installLeaseGuard, NotLeaderError } from './lease-guard.ts';

describe('assertLeading', () => {
  afterEach(() => installLeaseGuard(() => true));

  it('passes while the installed check holds and refuses, naming the action, once it does not', () => {
    let leading = true;
    installLeaseGuard(() => leading);
    expect(() => assertLeading('create pod a/b')).not.toThrow();
    leading = false;
    expect(() => assertLeading('create pod a/b')).toThrow(NotLeaderError);
    expect(() => assertLeading('create pod a/b')).toThrow(/refusing to create pod a\/b/);
  });
});
