"""Python in: the ``ast`` walk of ``src/scvi``, public namespaces, and what each test exercises."""
