"""The paper's feature analyses (§3.3, Appendix C): per-layer channel cosine distance (Figure 4),
activation maps (Figure 3), class selectivity index (Figure 7). Imports ``backbones`` and ``engine``.
"""
