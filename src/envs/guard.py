"""An env's own errors, told as its own: RLlib 2.60 re-raises any exception from ``env.step`` as
a bare ``RuntimeError`` (``raise RuntimeError from e``) under its own traceback, so what a user
saw last was neither the env's message nor where it happened. Every env RLlib builds here is
``guarded``: an exception from its ``reset``/``step`` becomes an :class:`EnvError` carrying the
env's message, the step of the episode and the action; ``src.train`` finds it in whatever RLlib
(or Ray, from a remote env runner) raised and ends the run with it (``stop_reason: env_error``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from src.errors import ConfigError

# env_config key: where a guarded env writes its error. A remote env runner's process dies with
# it (Ray reports only "actor died"), so the train loop reads it from there (src.train).
ERROR_FILE = "_maskbench_env_error_file"


class EnvError(RuntimeError):
    """The env raised ``message``; ``config_error``: it was one of our ConfigErrors (the env does
    not meet maskbench's contract, e.g. a mask with every action invalid)."""

    def __init__(self, message: str, config_error: bool = False):
        super().__init__(message, config_error)
        self.message, self.config_error = message, config_error

    def __str__(self) -> str:
        return self.message

    @classmethod
    def of(cls, error: Exception, env: str, where: str) -> EnvError:
        return cls(
            f"the env raised {type(error).__name__} {where} ({env}): {error}",
            config_error=isinstance(error, ConfigError),
        )


def guarded(env_class: type) -> type:
    """A subclass of ``env_class`` whose ``reset`` and ``step`` raise :class:`EnvError` from any
    exception, saying at which step of the episode and on which action."""

    class Guarded(env_class):
        _episode_step = 0

        def __init__(self, *args, **kwargs):
            config = args[0] if args and isinstance(args[0], dict) else {}  # RLlib's env_config
            self._error_file = config.get(ERROR_FILE)
            super().__init__(*args, **kwargs)

        def _raise(self, err: Exception, where: str):
            error = EnvError.of(err, env_class.__name__, where)
            if self._error_file and not Path(self._error_file).exists():
                record = {"message": error.message, "config_error": error.config_error}
                Path(self._error_file).write_text(json.dumps(record) + "\n")
            raise error from err

        def reset(self, *args, **kwargs) -> Any:
            self._episode_step = 0
            try:
                return super().reset(*args, **kwargs)
            except Exception as err:
                self._raise(err, "in reset()")

        def step(self, action) -> Any:
            self._episode_step += 1
            try:
                return super().step(action)
            except Exception as err:
                self._raise(
                    err, f"at step {self._episode_step} of an episode, action {_plain(action)}"
                )

    # A name of its own: pickled by value (cloudpickle) for remote env runners, never confused
    # with the class it guards.
    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{env_class.__name__}"
    return Guarded


def _plain(action: Any) -> Any:
    return action.item() if hasattr(action, "item") and getattr(action, "size", 1) == 1 else action


def recorded_env_error(path: Path) -> EnvError | None:
    """The error a guarded env wrote to ``path`` (from any process), if any."""
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return EnvError(record["message"], record["config_error"])


def env_error_in(err: BaseException) -> EnvError | None:
    """The EnvError behind ``err``: along its causes and contexts, and through Ray's task
    errors (``.cause``) from remote env runners."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, EnvError):
            return current
        ray_cause = getattr(current, "cause", None)  # a RayTaskError's original exception
        todo += [current.__cause__, current.__context__]
        todo += [ray_cause] if isinstance(ray_cause, BaseException) else []
    return None
