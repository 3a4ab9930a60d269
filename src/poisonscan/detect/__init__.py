"""Activation Clustering: reduction, clustering, cluster analyses and the detector."""

from .analyses import ANALYSES, Analysis, Finding, Reclassifier, register
from .cluster import ClassClusters, cluster_class
from .detector import ActivationClustering
from .reduce import REDUCERS, reduce
from .result import ClassReport, ClusterReport, DetectionResult, Vote

__all__ = ["ANALYSES", "ActivationClustering", "Analysis", "ClassClusters", "ClassReport",
           "ClusterReport", "DetectionResult", "Finding", "REDUCERS", "Reclassifier",
           "Vote", "cluster_class", "reduce", "register"]
