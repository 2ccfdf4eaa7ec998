"""The efficiency loop: "efficiency met? no → compress / quantize → measure again" — the
decision (``stage``), the search over compression plans (``search``), one plan's trial
(``trial``, ``precheck``) and what trials share (``setup``)."""
