"""riverbed's stream operators: stateful steps as plain, picklable Python state machines.

Contract: every operator is a class whose instance is its state. ``update(batch)`` is the only
way its state changes and returns what the step emits; optional ``on_tick(now)`` and
``on_eof()`` emit on timers and at the end of input. Instances pickle cheaply, never mutate
their input, and given the same ``seed`` and input produce the same output. Only
:mod:`operators.adapter` imports Bytewax; nothing here imports :mod:`flows`.
"""

__all__: list[str] = []
