"""Starting Ray while the process imports torch and RLlib.

``ray.init`` spends its seconds (a fifth of ``make run``'s start-up) waiting on the processes it
spawns (GCS, raylet, their agents), so a run starts it in a thread (:func:`start_ray`) before it
imports RLlib, and waits for it (:func:`init_ray`) just before the algorithm is built.

Two things make the thread what it is. Ray starts GCS and the raylet with ``PR_SET_PDEATHSIG``,
which kills them when the *thread* that spawned them ends, not the process: so the thread stays
alive (a daemon, parked on an event) for as long as the process. And a run that exits while
``ray.init`` is still under way (a configuration error) first lets it finish, so Ray's own exit
hook shuts down every process it started instead of leaving them behind.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

_starting: _Start | None = None  # the thread's ray.init, until init_ray has waited for it


class _Start:
    def __init__(self) -> None:
        self.done = threading.Event()  # set when ray.init returned or raised
        self.error: BaseException | None = None


def init_kwargs(resources: Any) -> dict[str, Any]:
    return {
        "num_cpus": resources.num_cpus,
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
    }


# What ray.init raises when the raylet has not registered with the GCS within its fixed 30 s
# (ray/_private/node.py): a machine whose cores other runs keep busy (two sweep jobs and a test
# suite on 2 cores did it). A second try, after Ray cleaned up the first, then starts.
STARTUP_TIMEOUT = "timed out during startup"
STARTUP_TRIES = 2


def init_with_retry(resources: Any) -> None:
    """``ray.init``, tried again (once) when Ray's start-up timed out on an overloaded machine."""
    import ray

    for attempt in range(1, STARTUP_TRIES + 1):
        try:
            ray.init(**init_kwargs(resources))
            return
        except Exception as err:
            if STARTUP_TIMEOUT not in str(err) or attempt == STARTUP_TRIES:
                raise
            logging.getLogger(__name__).warning(
                "ray.init: %s (try %d of %d); shutting it down and starting again",
                err,
                attempt,
                STARTUP_TRIES,
            )
            ray.shutdown()


def start_ray(resources: Any) -> None:
    """Start ``ray.init`` in a thread unless Ray runs already (a sweep's job) or is starting."""
    global _starting
    import ray

    if ray.is_initialized() or _starting is not None:
        return
    start = _starting = _Start()
    # What ray.init(logging_level=...) sets, set before RLlib's imports log (they run meanwhile).
    logging.getLogger("ray").setLevel(init_kwargs(resources)["logging_level"])

    def init() -> None:
        try:
            init_with_retry(resources)
        except BaseException as err:  # noqa: BLE001 - raised again by init_ray, in the caller
            start.error = err
        start.done.set()
        threading.Event().wait()  # Ray's processes live as long as this thread

    # Registered after `import ray` registered ray.shutdown, so it runs before it (atexit is LIFO).
    atexit.register(start.done.wait)
    threading.Thread(target=init, name="maskbench-ray-init", daemon=True).start()


def init_ray(resources: Any) -> None:
    """Ray, running: wait for :func:`start_ray`'s thread (raising what it raised), or start it."""
    global _starting
    import ray

    if _starting is not None:
        start, _starting = _starting, None
        start.done.wait()
        if start.error is not None:
            raise start.error
    if not ray.is_initialized():
        init_with_retry(resources)
