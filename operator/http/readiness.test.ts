import { Readiness } from './readiness.ts';

describe('Readiness', () => {
  it('is ready when every check holds, and reports the role', () => {
    const r = new Readiness();
    let synced = false;
    r.require('hub view', () => (synced ? undefined : 'hub aijobs informer not listed yet'));
    expect(r.report()).toEqual({ ready: false, role: 'starting', reasons: ['hub view: hub aijobs informer not listed yet'] });
    synced = true;
    expect(r.report()).toEqual({ ready: true, role: 'starting', reasons: [] });
  });
  it("applies the leader's checks only while leading, and a standby names the leader", () => {
    const r = new Readiness();
    r.requireWhileLeading('aijobs', () => 'cache not synced');
    r.role = 'standby';
    r.leader = 'pod-a';
    expect(r.report()).toEqual({ ready: true, role: 'standby', leader: 'pod-a', reasons: [] });
    r.role = 'leader';
    r.leader = 'pod-b';
    expect(r.report()).toMatchObject({ ready: false, role: 'leader', reasons: ['aijobs: cache not synced'] });
    r.clearLeaderChecks();
    expect(r.report().ready).toBe(true);
  });
  it('turns a throwing check into a reason', () => {
    const r = new Readiness();
    r.require('x', () => {
      throw new Error('boom');
    });
    expect(r.report()).toMatchObject({ ready: false, reasons: ['x: check failed: boom'] });
  });
});
