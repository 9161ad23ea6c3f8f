"""Model registry and evaluations: ``ml.model_versions``, ``ml.evaluations``, the promotion gate."""
