"""Ray started in a thread while RLlib is imported (src.ray_start), in fresh processes: the test
session's own Ray instance (conftest) would make start_ray a no-op; and ray.init's retry after a
start-up timeout, with ray.init stubbed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import ray

from src import ray_start
from tests.conftest import ROOT


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ray_started_in_a_thread_outlives_the_thread_that_started_it():
    # Ray spawns GCS and the raylet with PR_SET_PDEATHSIG: if the starting thread ended, they
    # would be killed with it and the first call after would hang on a dead GCS.
    result = run_python(
        """
        import time
        from types import SimpleNamespace
        from src.ray_start import init_ray, start_ray
        import ray
        from ray._private import ray_constants

        start_ray(SimpleNamespace(num_cpus=1))
        init_ray(SimpleNamespace(num_cpus=1))
        time.sleep(2)
        node = ray._private.worker._global_node
        for kind in (ray_constants.PROCESS_TYPE_GCS_SERVER, ray_constants.PROCESS_TYPE_RAYLET):
            assert node.all_processes[kind][0].process.poll() is None, kind + " died"
        assert ray.get(ray.put(41), timeout=30) + 1 == 42
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_an_error_of_the_thread_is_raised_by_init_ray():
    result = run_python(
        """
        from types import SimpleNamespace
        from src.ray_start import init_ray, start_ray

        start_ray(SimpleNamespace(num_cpus=-1))
        try:
            init_ray(SimpleNamespace(num_cpus=-1))
        except ValueError as err:
            print("raised:", err)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "raised: Resource quantities must be nonnegative" in result.stdout


def fake_ray_init(monkeypatch, errors: list[Exception]) -> list[str]:
    """ray.init raising each of ``errors`` in turn, then starting; what was called, in order."""
    calls: list[str] = []

    def init(**kwargs):
        calls.append("init")
        if errors:
            raise errors.pop(0)

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    return calls


def test_a_start_up_that_timed_out_on_a_busy_machine_is_tried_again(monkeypatch):
    timeout = Exception("The current node timed out during startup. This could happen ...")
    calls = fake_ray_init(monkeypatch, [timeout])
    ray_start.init_with_retry(SimpleNamespace(num_cpus=1))
    assert calls == ["init", "shutdown", "init"]


def test_other_errors_and_a_second_timeout_are_raised(monkeypatch):
    calls = fake_ray_init(monkeypatch, [ValueError("Resource quantities must be nonnegative")])
    with pytest.raises(ValueError):
        ray_start.init_with_retry(SimpleNamespace(num_cpus=-1))
    assert calls == ["init"]  # not retried
    timeouts = [Exception("The current node timed out during startup.") for _ in range(2)]
    calls = fake_ray_init(monkeypatch, timeouts)
    with pytest.raises(Exception, match="timed out during startup"):
        ray_start.init_with_retry(SimpleNamespace(num_cpus=1))
    assert calls == ["init", "shutdown", "init"]
