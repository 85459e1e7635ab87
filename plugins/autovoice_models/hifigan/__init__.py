"""HiFi-GAN vocoder (mel → waveform): generator presets V1/V2/V3, multi-period and multi-scale
discriminators, their losses and the training recipe.

Importing this package is cheap: :mod:`.spec` and :mod:`.presets` are attrs only; the torch
modules (:mod:`.generator`, :mod:`.discriminators`, :mod:`.losses`, :mod:`.recipe`) load when the
spec's factory is called.
"""

from __future__ import annotations
