"""Faithfulness metrics of a visualization run (DVI / TimeVis / DeepDebugger definitions; see
``/work/shared/reference/metrics.md`` §2). Pure functions on arrays, plus :func:`evaluate_run` for a VisRun.
"""
from .borders import generate_border_points
from .evaluate import METRICS_FILE, evaluate_run
from .inverse import confidence_difference, inverse_metrics, ppr, reconstruction_distance
from .knn import exact_knn, nndescent_knn, nndescent_params
from .neighbors import bnn, nn_exact, nn_paper, overlap_counts
from .temporal import dvi_temporal, stages, temporal_rankings
from .trust import continuity, trust_continuity, trustworthiness

__all__ = ["evaluate_run", "METRICS_FILE", "exact_knn", "nndescent_knn", "nndescent_params", "nn_exact", "nn_paper",
           "bnn", "overlap_counts", "ppr", "reconstruction_distance", "confidence_difference", "inverse_metrics",
           "dvi_temporal", "temporal_rankings", "stages", "trustworthiness", "continuity", "trust_continuity",
           "generate_border_points"]
