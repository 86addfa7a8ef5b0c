"""Pacing of simulated traffic to Kafka, on a fake clock (no real waiting)."""

from producers.simulation.output import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_rate_limit_spaces_events_evenly():
    clock = FakeClock()
    pacer = Pacer(rate=4, compression=None, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.wait(event_at=0)
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]
    assert clock.now == 101.0


def test_time_compression_releases_events_at_their_compressed_event_time():
    clock = FakeClock()
    pacer = Pacer(rate=None, compression=3600, clock=clock, sleep=clock.sleep)
    for event_at in (0, 3600, 3600, 7200 + 1800):  # event times in seconds
        pacer.wait(event_at)
    # one simulated hour per wall second: due at 0, 1, 1, 2.5 s
    assert clock.slept == [1.0, 1.5]
    assert clock.now == 102.5


def test_the_slower_of_both_limits_wins():
    clock = FakeClock()
    pacer = Pacer(rate=1, compression=3600, clock=clock, sleep=clock.sleep)
    for event_at in (0, 0, 36000):
        pacer.wait(event_at)
    assert clock.slept == [1.0, 9.0]  # the rate first, then the event time (10 s)
