"""From a YAML configuration to a trained, tested or evaluated experiment: the training entry points' glue.

``config`` (layout, defaults, validation), ``networks`` (networks, fresh or from a checkpoint), ``builders``
(datasets, task), ``pipeline`` (the Lightning run), ``run`` (the command line of ``train/train_stage*.py``).
Nothing is imported here: importing the package must not pull in Lightning, which only training and testing
need.
"""
