"""SpatialMe: 2D-to-3D stereo video conversion by depth-warping and blend-inpainting.

Public API::

    from spatialme import StereoPipeline
    pipe = StereoPipeline.from_pretrained()
    out = pipe.synthesize(left, disparity, variant="full")   # the default; "poly" is the fast classical one
"""

from .pipeline import DEFAULT_VARIANT, VARIANTS, ConvertResult, PipelineConfig, StereoOutput, StereoPipeline, VariantUnavailable

__version__ = "0.1.0"
__all__ = ["StereoPipeline", "PipelineConfig", "StereoOutput", "ConvertResult", "VARIANTS", "DEFAULT_VARIANT", "VariantUnavailable", "__version__"]
