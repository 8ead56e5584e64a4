"""Synthetic scenes with ground truth: the embedded default input of glacierinv.

:func:`generate_scene` builds a deterministic glacierised mountain scene from a seed;
:func:`render_scene_over` renders the same sensors over a real DEM with real outlines as the truth.
"""

from glacierinv.synthetic.over import render_scene_over
from glacierinv.synthetic.scene import SceneInfo, generate_scene

__all__ = ["SceneInfo", "generate_scene", "render_scene_over"]
