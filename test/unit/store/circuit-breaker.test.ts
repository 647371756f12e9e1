import test from 'ava';

import { CHECK_FIRST_MS, CHECK_MAX_MS, CircuitBreaker } from '../../../src/store/circuit-breaker.js';

/** A timer the breaker asked for while `withTimers` had the clock: run it by hand. */
interface FakeTimer {
  readonly delay: number | undefined;
  readonly fire: () => void;
  unrefed: boolean;
  cleared: boolean;
}

/**
 * Runs `body` (synchronously) with setTimeout and clearTimeout replaced by recorders, and puts the real ones back
 * before returning: no other code can run meanwhile, so nothing else sees the fakes. Timers are fired by hand.
 */
function withTimers(timers: FakeTimer[], body: () => void): void {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const fakeSet = (callback: () => void, delay?: number): FakeTimer => {
    const timer: FakeTimer = {
      delay,
      unrefed: false,
      cleared: false,
      fire: () => {
        if (!timer.cleared) callback();
      },
    };
    Object.assign(timer, {
      unref() {
        timer.unrefed = true;
        return timer;
      },
    });
    timers.push(timer);
    return timer;
  };
  const fakeClear = (timer: unknown): void => {
    if (timer && typeof timer === 'object' && 'cleared' in timer) (timer as FakeTimer).cleared = true;
  };
  globalThis.setTimeout = fakeSet as unknown as typeof setTimeout;
  globalThis.clearTimeout = fakeClear as unknown as typeof clearTimeout;
  try {
    body();
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
}

test('a new breaker is closed', (t) => {
  const breaker = new CircuitBreaker();
  t.is(breaker.state, 'closed');
  t.false(breaker.isOpen);
  t.false(breaker.isSuspended);
  t.is(String(breaker), 'closed');
});

test('open: calls fail fast, and a check runs after CHECK_FIRST_MS on an unref-ed timer', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  let checks = 0;
  withTimers(timers, () => breaker.open(() => checks++));
  t.is(breaker.state, 'open');
  t.true(breaker.isOpen);
  t.is(breaker.toString(), 'open');
  t.is(timers.length, 1);
  t.is(timers[0]!.delay, CHECK_FIRST_MS);
  t.true(timers[0]!.unrefed, 'the timer must not keep the process alive');
  t.is(checks, 0, 'not before the timer');
  timers[0]!.fire();
  t.is(checks, 1);
  t.true(breaker.isOpen, 'a check alone does not close it');
});

test('the backoff doubles up to CHECK_MAX_MS', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  const check = (): void => undefined;
  withTimers(timers, () => {
    breaker.open(check);
    for (let i = 0; i < 6; i++) {
      timers.at(-1)!.fire();
      breaker.scheduleCheck(check);
    }
  });
  t.deepEqual(
    timers.map((timer) => timer.delay),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  t.is(CHECK_FIRST_MS, 100);
  t.is(CHECK_MAX_MS, 1000);
});

test('only one check is scheduled at a time', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  const ran: string[] = [];
  withTimers(timers, () => {
    breaker.open(() => ran.push('first'));
    breaker.scheduleCheck(() => ran.push('second'));
    breaker.open(() => ran.push('third'));
  });
  t.is(timers.length, 1);
  timers[0]!.fire();
  t.deepEqual(ran, ['first']);
  // the timer fired: the next request schedules again, at the doubled delay (the extra requests did not double it)
  withTimers(timers, () => breaker.scheduleCheck(() => ran.push('fourth')));
  t.is(timers.length, 2);
  t.is(timers[1]!.delay, CHECK_FIRST_MS * 2);
});

test('close: calls go through again and the next failure starts the backoff afresh', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  const check = (): void => undefined;
  withTimers(timers, () => {
    breaker.open(check);
    timers[0]!.fire();
    breaker.scheduleCheck(check);
    timers[1]!.fire();
    breaker.close();
  });
  t.is(breaker.state, 'closed');
  t.false(breaker.isOpen);
  t.is(timers[1]!.delay, 2 * CHECK_FIRST_MS);
  withTimers(timers, () => breaker.open(check));
  t.is(timers[2]!.delay, CHECK_FIRST_MS);
});

test('checkNow cancels the scheduled check and runs the check at once', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  const ran: string[] = [];
  withTimers(timers, () => {
    breaker.open(() => ran.push('timer'));
    breaker.checkNow(() => ran.push('now'));
  });
  t.deepEqual(ran, ['now'], 'synchronously');
  t.true(timers[0]!.cleared);
  timers[0]!.fire();
  t.deepEqual(ran, ['now'], 'the cancelled timer does not run');
  // with the timer gone, the next request schedules a new one
  withTimers(timers, () => breaker.scheduleCheck(() => ran.push('later')));
  t.is(timers.length, 2);
});

test('cancelCheck clears the timer, and a new check may be scheduled', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  withTimers(timers, () => {
    breaker.open(() => undefined);
    breaker.cancelCheck();
    breaker.scheduleCheck(() => undefined);
  });
  t.true(timers[0]!.cleared);
  t.is(timers.length, 2);
  t.true(breaker.isOpen, 'cancelling the check does not close the breaker');
});

test('suspend: closed, no timer, no check until resume', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  const ran: string[] = [];
  withTimers(timers, () => {
    breaker.open(() => ran.push('timer'));
    breaker.suspend();
  });
  t.true(timers[0]!.cleared, 'the pending check is cancelled');
  t.is(breaker.state, 'closed');
  t.false(breaker.isOpen);
  t.true(breaker.isSuspended);
  t.is(String(breaker), 'suspended');

  withTimers(timers, () => {
    breaker.scheduleCheck(() => ran.push('scheduled'));
    breaker.checkNow(() => ran.push('now'));
  });
  t.is(timers.length, 1, 'nothing scheduled while suspended');
  t.deepEqual(ran, [], 'nothing run while suspended');

  breaker.resume();
  t.false(breaker.isSuspended);
  t.is(String(breaker), 'closed');
  withTimers(timers, () => breaker.checkNow(() => ran.push('now')));
  t.deepEqual(ran, ['now']);
  withTimers(timers, () => breaker.scheduleCheck(() => ran.push('scheduled')));
  t.is(timers.length, 2);
});

test('open while suspended stays closed: no check could close it, and the next call after resume goes to the store', (t) => {
  const breaker = new CircuitBreaker();
  const timers: FakeTimer[] = [];
  withTimers(timers, () => {
    breaker.suspend();
    breaker.open(() => undefined);
  });
  t.false(breaker.isOpen);
  t.is(String(breaker), 'suspended');
  t.is(timers.length, 0);
  breaker.resume();
  t.false(breaker.isOpen);
  t.is(String(breaker), 'closed');
  withTimers(timers, () => breaker.open(() => undefined));
  t.true(breaker.isOpen, 'after resume a failure opens it as usual');
  t.is(timers.length, 1);
});

test('with real timers: the check runs on its own after open', async (t) => {
  const breaker = new CircuitBreaker();
  // The breaker's timer is unref-ed: something must hold the process open while the test waits for it.
  const keepAlive = setInterval(() => undefined, 10_000);
  try {
    const started = Date.now();
    await new Promise<void>((resolve) => breaker.open(resolve));
    t.true(Date.now() - started >= CHECK_FIRST_MS - 5, 'not before the first backoff');
    t.true(breaker.isOpen);
  } finally {
    clearInterval(keepAlive);
    breaker.cancelCheck();
  }
});
