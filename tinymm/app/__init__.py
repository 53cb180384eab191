"""The ``tinymm`` application: the command line and the tasks it trains, above the engine.

``cli`` (the ``tinymm`` command), ``commands`` (train, evaluate, compare-fusions), ``train``
(the VQA task's training run, checkpoints and figures), ``demo``, ``selfcheck`` (the
``tinymm gradcheck`` command), ``render`` and ``_png`` (figures). Nothing in the engine
imports this package.
"""
