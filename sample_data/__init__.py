"""The bundled sample MLMD store (see README.md here), shipped with the package so that
``mlprov demo`` runs from any directory after a plain ``pip install``."""
