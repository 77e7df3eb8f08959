"""The CPU benchmark's floor: the do-nothing server answers Cloudforet's real client (reflection, init, dispatch),
and the benchmark reads both processes' CPU time."""

from __future__ import annotations

from tests.benchmarks.bench_cpu import _params, cpu_seconds, noop_process
from tests.cloudforet.client_venv import CloudforetClient


def test_the_floor_serves_the_real_client(cloudforet_client: CloudforetClient) -> None:
    with noop_process() as floor:
        answer = cloudforet_client.call(floor.endpoint, "Protocol.init", {"options": {}})
        assert answer["ok"] and answer["result"] == {}, answer  # an empty PluginInfo
        assert cloudforet_client.call(floor.endpoint, "Notification.dispatch", _params(1))["ok"]
        discarded = cloudforet_client.call(floor.endpoint, "Notification.dispatch", _params(2), discard=True)
        assert discarded["ok"] and discarded["result"] == {}
        assert floor.pid is not None and cpu_seconds(floor.pid) > 0 and cpu_seconds(cloudforet_client.pid) > 0
