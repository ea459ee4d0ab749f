"""Training for ToonTalker (kept apart from the inference core; needs scikit-image only for the synthetic
real-domain stills). `python -m toontalker_train --help`.

    from toontalker_train import Trainer, TrainConfig, PRESETS, SyntheticReal, SyntheticCartoon
    tr = Trainer(TrainConfig(stage="crossdomain", out="runs/x", steps=100), PRESETS["tiny"],
                 real=SyntheticReal(64), cartoon=SyntheticCartoon(64))
    tr.fit()
"""
from .data import FolderClips, SyntheticCartoon, SyntheticReal, augment_pair, make_source
from .losses import analogy_loss, canonical_change, laplacian_pyramid_loss, ms_ssim_loss, reconstruction_loss, ssim
from .presets import PRESETS
from .trainer import STAGES, TrainConfig, Trainer, export, self_reenact

__all__ = ["FolderClips", "PRESETS", "STAGES", "SyntheticCartoon", "SyntheticReal", "TrainConfig", "Trainer",
           "analogy_loss", "augment_pair", "canonical_change", "export", "laplacian_pyramid_loss", "make_source",
           "ms_ssim_loss", "reconstruction_loss", "self_reenact", "ssim"]
