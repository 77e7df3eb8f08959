"""Run every benchmark and print its figures: ``python -m tests.benchmarks``."""

from tests.benchmarks import bench_clicks, bench_dispatch

if __name__ == "__main__":
    bench_dispatch.run()
    bench_clicks.run()
