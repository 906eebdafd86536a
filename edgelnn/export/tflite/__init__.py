"""TFLite export (tmp)."""
from .convert import convert
