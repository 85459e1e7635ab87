"""A learned-magnitude Griffin-Lim vocoder (mel → linear magnitude → waveform).

A small dilated convolution network restores the linear STFT magnitude a log-mel leaves out (the
harmonics the 80 mel bands blur together); Griffin-Lim then finds its phase in numpy at run time.
Importing this package is cheap: :mod:`.spec` is attrs only; :mod:`.model` and :mod:`.recipe`
load torch when the spec's factory is called.
"""

from __future__ import annotations
