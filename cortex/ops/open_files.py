"""Lifting the process's open-files limit, so the limit on streams is Cortex's, not the shell's.

Every stream holds two sockets (client and upstream). Under a common default soft limit of
1,024 descriptors a gateway would start refusing connections at about 500 streams, long
before its own bounds. Like Go's runtime, the daemon raises the soft limit to the hard
limit at start; it never touches the hard limit, which is the operator's.
"""

from __future__ import annotations

import resource

import structlog

UNBOUNDED_TARGET = 1 << 20  # what "no hard limit" is lifted to (the kernel's usual nr_open)

log = structlog.get_logger("cortex")


def lift_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNBOUNDED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("open_files_limit_kept", soft=soft, hard=hard, reason=str(exc))
            return soft
        log.info("open_files_limit_raised", soft=soft, now=target)
        return target
    return soft
