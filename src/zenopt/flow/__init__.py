"""The optimization flow, one module per box of the flowchart:

data → train → evaluate → quality met? (tune) → export → profile → efficiency met?
(compress / search) → artifacts + report → analysis.

``run_pipeline`` runs it; every stage takes the run's :class:`RunContext` plus what is
specific to it. The README's "Code map" names the module and the tests of each box.
"""

from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.flow.run import RunOptions, RunOutcome, run_pipeline

__all__ = ["Baseline", "RunContext", "RunOptions", "RunOutcome", "RunRecord", "run_pipeline"]
