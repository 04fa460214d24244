"""The cyclic garbage collector, kept out of a worker's send loop and a serve's requests.

Nearly everything a worker allocates per message is freed by reference
counting, but at Python's default threshold the collector still ran every 700
allocations and walked the jobs in flight, and each full pass walked every
module, model and setting too: 13 % of a busy worker's CPU. ``gc.freeze``
moves what start-up made (it lives as long as the process) out of every later
pass, and a higher gen-0 threshold makes the passes rarer; cycles are still
collected, only later. ``serve`` calls it once its app is built, workers or
not: a full pass over the web stack's modules and models held a request up
for 100-200 ms.
"""

from __future__ import annotations

import gc

# A gen-0 pass every this many allocations net of frees, instead of 700.
GEN0_THRESHOLD = 50_000
_calmed = False


def calm_gc() -> bool:
    """Freeze what exists and raise the gen-0 threshold, once per process; True if done now.

    Once: a ``serve`` with its embedded worker, or many workers in one process,
    freeze only what existed at the first start, never what later workers leave.
    """
    global _calmed
    if _calmed:
        return False
    _calmed = True
    # No collection first: a full pass over a loaded process costs a few hundred ms at
    # start, and what start-up left as garbage is a bounded few objects, kept.
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GEN0_THRESHOLD), gen1, gen2)
    return True
