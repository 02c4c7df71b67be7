"""Test suites that gridfold ships, for gridfold itself and for third-party extensions.

- :mod:`gridfold.testing.sklearn_swap`: a pytest plugin that runs scikit-learn's
  own search tests with gridfold's classes swapped in.
"""
