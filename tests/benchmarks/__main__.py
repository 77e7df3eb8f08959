"""Run every benchmark and print its figures: ``python -m tests.benchmarks`` (``--quick`` runs the storm at 20
posts/s instead of Slack's real 1/s, about 15 s instead of five minutes)."""

import sys

from tests.benchmarks import bench_clicks, bench_dispatch, bench_memory, bench_storm

if __name__ == "__main__":
    bench_dispatch.run()
    bench_clicks.run()
    bench_memory.run()
    bench_storm.run(rate=20.0 if "--quick" in sys.argv else 1.0)
