"""riverbed's model side: River estimators by name, learners with prequential metrics,
selection policies.

Contract: nothing here imports Bytewax or :mod:`flows`; every object pickles (it lives in the
recovery snapshot) and is bit-for-bit repeatable given its ``seed``.
"""

__all__: list[str] = []
