"""Faithfulness metrics of a visualization run, as the DVI / TimeVis / DeepDebugger papers define them
(neighbour and boundary-neighbour preservation, prediction preservation of the inverse, temporal rankings,
trustworthiness). Pure functions on arrays, plus :func:`evaluate_run` for a VisRun.

The metrics room sits above the engine: it imports the engine, never the other way round. Importing it
registers ``evaluate_run`` as ``VisRun.metrics()``.
"""
from ..engine.run import register_analysis
from .evaluate import METRICS_FILE, evaluate_run
from .inverse import confidence_difference, inverse_metrics, ppr, reconstruction_distance
from .knn import exact_knn, nndescent_knn, nndescent_params
from .neighbors import bnn, nn_exact, nn_paper, overlap_counts
from .temporal import dvi_temporal, stages, temporal_rankings
from .trust import continuity, trust_continuity, trustworthiness

register_analysis("metrics", evaluate_run)

__all__ = ["evaluate_run", "METRICS_FILE", "exact_knn", "nndescent_knn", "nndescent_params", "nn_exact", "nn_paper",
           "bnn", "overlap_counts", "ppr", "reconstruction_distance", "confidence_difference", "inverse_metrics",
           "dvi_temporal", "temporal_rankings", "stages", "trustworthiness", "continuity", "trust_continuity"]
