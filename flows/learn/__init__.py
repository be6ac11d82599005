"""The learn-and-serve step and its parts.

Contract: :class:`~flows.learn.step.LearnStep` is a state machine (``update(batch)``,
``on_eof()``) composed of small parts with one job each: the serving rule
(:mod:`flows.learn.serving`), the drift actions (:mod:`flows.learn.drift_actions`) and the
challenger pool (:mod:`flows.learn.challengers`), model checkpoint files
(:mod:`flows.learn.model_checkpointing`); scoring and the task live on the model side
(:mod:`online_models.scoring`, :mod:`online_models.tasks`). Every part pickles with the step.
"""

__all__: list[str] = []
