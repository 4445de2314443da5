"""Real demo training dynamics: Fashion-MNIST (Debian package dataset-fashion-mnist) or scikit-learn digits."""
from .digits import make_digits_dynamics

__all__ = ["make_digits_dynamics"]
