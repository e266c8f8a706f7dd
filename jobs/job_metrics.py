"""Counts the workers keep in Redis for ``/metrics`` to read: chunk job
durations (a histogram) and chunks the sweeper recovered.

Workers are many processes, and each job runs in a forked work horse, so
in-process counters would be lost; Redis is what they all share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis import Redis

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_DURATIONS = "partner_api:metrics:job_duration:{outcome}"
_RECOVERED = "partner_api:metrics:sweeper_recovered_chunks"


def observe_job(connection: Redis, seconds: float, outcome: str) -> None:
    key = _DURATIONS.format(outcome=outcome)
    pipe = connection.pipeline(transaction=False)
    for bound in BUCKETS:
        if seconds <= bound:
            pipe.hincrby(key, str(bound), 1)
    pipe.hincrby(key, "+Inf", 1)
    pipe.hincrbyfloat(key, "sum", seconds)
    pipe.execute()


def count_recovered(connection: Redis, chunks: int) -> None:
    if chunks:
        connection.incrby(_RECOVERED, chunks)


@dataclass
class Snapshot:
    # outcome -> ([(bound, cumulative count), ...], sum)
    durations: dict[str, tuple[list[tuple[str, float]], float]] = field(default_factory=dict)
    recovered_chunks: int = 0


def read(connection: Redis) -> Snapshot:
    snapshot = Snapshot(recovered_chunks=int(connection.get(_RECOVERED) or 0))
    for outcome in ("succeeded", "failed"):
        raw = connection.hgetall(_DURATIONS.format(outcome=outcome))
        if not raw:
            continue
        values = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}
        buckets = [(str(b), values.get(str(b), 0.0)) for b in BUCKETS]
        buckets.append(("+Inf", values.get("+Inf", 0.0)))
        snapshot.durations[outcome] = (buckets, values.get("sum", 0.0))
    return snapshot
