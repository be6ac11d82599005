"""The learn-and-serve step and its parts.

Contract: :class:`~flows.learn.step.LearnStep` is a state machine (``update(batch)``,
``on_eof()``) composed of small parts with one job each: a lane per model (its predictions,
error drift, drift actions and challenger, :mod:`flows.learn.lane`), the serving rule
(:mod:`flows.learn.serving`), model checkpoint files (:mod:`flows.learn.model_checkpointing`);
the label join, scoring and the task live in :mod:`operators.label_join`,
:mod:`online_models.scoring` and :mod:`online_models.tasks`. Everything happens in the merged
stream order of events and labels, so the batch cut changes nothing but speed. Every part
pickles with the step.
"""

__all__: list[str] = []
