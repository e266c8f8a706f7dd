"""Fair shares between organisations: which queue an order's chunks go to,
and the order a worker serves the queues in.

Chunks go to one of a fixed set of registration *lanes* (RQ queues). While
an organisation has work queued it holds a lane of its own; workers take the
maintenance and webhook queues first, always, then the lanes round-robin,
starting after the lane they served last. So a 1-row order of one
organisation waits for about one chunk per organisation with work queued,
whatever the size of their orders, and the sweeper waits for no queued
chunk at all (at most for the chunks in hand when it comes due).

Why a fixed set of lanes rather than a queue per organisation: a worker's
list of queues is fixed when it starts, and the scheduler that hands
retries back once their backoff is over serves only the queues it took locks
on at its start; RQ's maintenance also walks every queue's registries each
round. Queues per organisation would need every worker and scheduler to keep
discovering new queues, and would make that maintenance grow with the number
of organisations. With ``LANE_COUNT`` lanes all that stays constant, and
every job keeps RQ's own semantics: fixed IDs, timeouts, TTLs, retries on the
queue it came from, abandoned jobs found again.

Why lanes are claimed rather than hashed: with a plain hash of the
organisation onto a lane, two organisations share one with probability
1/``LANE_COUNT``, and always the same two, so a customer that hashes onto a
large partner's lane would wait behind all its orders every time. Instead an
organisation that enqueues keeps the lane it holds, or claims an idle one
(empty and not claimed a moment ago), looking first at the lane its hash
names. Only when more than ``LANE_COUNT`` organisations have work queued at
once do two share a lane (the hashed one). The claim is one Lua script, so
two processes enqueueing at once never claim the same idle lane.

A retried chunk returns to the lane it came from (RQ's scheduler enqueues on
the job's origin), which may serve another organisation by then: one chunk
more for that one to wait. The sweeper hands lost chunks out again through
``lane_for``, like a new order.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Sequence

from redis import Redis
from rq import Queue

from jobs.connection import LANE_COUNT, PRIORITY_QUEUES, REGISTRATION_LANES

# Which organisation holds which lane: fields ``org:<organisation>`` (its
# lane), ``lane:<n>`` (its holder) and ``at:<n>`` (when last claimed or fed).
LANES_KEY = "partner_api:lanes"
# An empty lane claimed this recently is taken: its chunks are on their way
# (pushed right after the claim, in a second call).
CLAIM_GRACE_SECONDS = 5.0

_CLAIM = """
local lanes = KEYS[1]
local organisation = ARGV[1]
local home = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local grace = tonumber(ARGV[4])
local count = #KEYS - 1
local held = redis.call('HGET', lanes, 'org:' .. organisation)
if held and redis.call('HGET', lanes, 'lane:' .. held) == organisation then
  redis.call('HSET', lanes, 'at:' .. held, ARGV[3])
  return tonumber(held)
end
for i = 0, count - 1 do
  local lane = (home + i) % count
  local claimed = tonumber(redis.call('HGET', lanes, 'at:' .. lane) or '0')
  if now - claimed > grace and redis.call('LLEN', KEYS[lane + 2]) == 0 then
    local previous = redis.call('HGET', lanes, 'lane:' .. lane)
    if previous then
      redis.call('HDEL', lanes, 'org:' .. previous)
    end
    redis.call('HSET', lanes, 'org:' .. organisation, lane, 'lane:' .. lane, organisation,
               'at:' .. lane, ARGV[3])
    return lane
  end
end
return home
"""


def organisation(tenant_id: uuid.UUID, partner_id: uuid.UUID | None) -> str:
    """Whose work an order is, for fair shares: the partner that submitted
    it (for whichever customer), or the customer that registered its own."""
    return f"partner:{partner_id}" if partner_id is not None else f"tenant:{tenant_id}"


def home_lane(organisation: str) -> int:
    return zlib.crc32(organisation.encode()) % LANE_COUNT


def lane_for(connection: Redis, organisation: str) -> str:
    """The queue for this organisation's chunks (see the module docstring)."""
    keys = [LANES_KEY, *(Queue(name, connection=connection).key for name in REGISTRATION_LANES)]
    claim = connection.register_script(_CLAIM)
    lane = claim(
        keys=keys,
        args=[organisation, home_lane(organisation), repr(time.time()), CLAIM_GRACE_SECONDS],
    )
    return REGISTRATION_LANES[int(lane)]


def round_robin(queues: Sequence[Queue], served: Queue) -> list[Queue]:
    """The queues in the order to look at them after a job from ``served``:
    the priority queues first, as they are; then the others starting after
    ``served``, so every other lane with work comes before it again."""
    first = [q for q in queues if q.name in PRIORITY_QUEUES]
    rest = [q for q in queues if q.name not in PRIORITY_QUEUES]
    names = [q.name for q in rest]
    if served.name in names:
        at = names.index(served.name) + 1
        rest = rest[at:] + rest[:at]
    return first + rest


def starting_order(names: Sequence[str], offset: int) -> list[str]:
    """The queues a worker starts with: priority queues first, then the
    others rotated by ``offset``, so that workers started together do not
    all look at the same lane first."""
    first = [n for n in names if n in PRIORITY_QUEUES]
    rest = [n for n in names if n not in PRIORITY_QUEUES]
    at = offset % len(rest) if rest else 0
    return first + rest[at:] + rest[:at]
