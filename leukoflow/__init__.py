"""leukoflow: detection and classification of leukemic white blood cells in blood smears."""

__version__ = "0.1.0"
