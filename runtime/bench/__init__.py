"""Latency and throughput benchmarks: measure, cost model, machine line, workloads, run, plot."""
