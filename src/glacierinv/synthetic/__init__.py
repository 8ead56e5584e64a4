"""Synthetic scenes with ground truth: the embedded default input of glacierinv."""

from glacierinv.synthetic.scene import SceneInfo, generate_scene

__all__ = ["SceneInfo", "generate_scene"]
