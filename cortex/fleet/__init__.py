"""A fleet: several Cortex instances sharing state through Redis (``CORTEX_REDIS_URL``).

:mod:`cortex.fleet.store` owns the one Redis client of an instance (budgeted commands,
pipelined writes handed over from any thread, pub/sub that survives reconnects, and the
availability state that keeps an outage from failing requests);
:mod:`cortex.fleet.instances` is each instance's heartbeat and the fleet's list of live
instances (``GET /api/fleet``); :mod:`cortex.fleet.fleet` wires both to the front.

Without a Redis URL nothing here imports redis: :class:`~cortex.fleet.fleet.Fleet` then
answers for this one instance, from memory.
"""
