"""Evaluation: pure functional metrics, MMEngine metrics (``metrics/``, importing torch) and scene
evaluation (``scene.py``). Nothing heavy is imported here, so ``geoperc eval-scene`` starts fast."""
