"""tinymm's benchmark harness: ``python -m benchmarks`` (or ``tinymm bench``).

Each ``benchmarks/bench_<stem>.py`` defines ``BENCHES``, a list of ``Bench`` (see harness.py).
"""
