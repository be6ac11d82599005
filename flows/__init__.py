"""riverbed's jobs: configuration, sources and sinks, the dataflows, the CLI and run reports.

Contract: this is the only package that wires Bytewax dataflows and talks to Kafka; it may
import :mod:`operators` and :mod:`online_models`, never the reverse.
"""

__all__: list[str] = []
