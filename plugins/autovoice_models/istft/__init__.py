"""An iSTFT vocoder (mel → magnitude and phase at frame rate → one inverse STFT → waveform).

Importing this package is cheap: :mod:`.spec` is attrs only; :mod:`.model`, :mod:`.losses`,
:mod:`.discriminators` and :mod:`.recipe` load torch when the spec's factory is called.
"""

from __future__ import annotations
