"""The ``tinymm`` application: the command line and the tasks it trains, above the engine.

``cli`` (the ``tinymm`` command), ``commands`` (train, evaluate, compare-fusions), ``train``
(the VQA task's training run and checkpoints), ``tasks`` (the retrieval and captioning
tasks), ``demo``, ``selfcheck`` (the ``tinymm gradcheck`` command), ``figures``, ``render``
and ``plots`` (every figure, drawn with matplotlib). Nothing in the engine imports this
package.
"""
