"""SpatialMe: 2D-to-3D stereo video conversion by depth-warping and blend-inpainting."""

__version__ = "0.1.0"
